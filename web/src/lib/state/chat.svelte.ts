// The chat controller: rooms, joined-room state, sending, and the Socket.IO
// lifecycle (initial connect, reconnect + catch-up, resend of pending messages).
import { SvelteMap } from 'svelte/reactivity';
import { ApiError, fetchMessages, fetchOnlineUsers, fetchRooms, isRedirecting, sessionIsValid } from '../api';
import { createSocket, emitWithAck, type ChatSocket } from '../socket';
import { loadLastRoomId, saveLastRoomId } from '../storage';
import { charCount, differsFromUsername, MAX_MESSAGE_CHARS, MAX_ROOM_NAME_CHARS, newClientId } from '../text';
import type { ChatMessage, Me, Room } from '../types';
import { PresenceStore } from './presence.svelte';
import { RoomView, type PendingMessage } from './room.svelte';
import { TypingEmitter } from './typing';

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

export const HISTORY_PAGE = 50;
export const CATCH_UP_PAGE = 200;
/** How many times an unanswered `join_room` is sent before the room shows an error. */
const JOIN_ATTEMPTS = 3;
const DEFAULT_ROOM = 'general';

function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message || 'Network error.';
  return 'Network error.';
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class ChatStore {
  me = $state.raw<Me | null>(null);
  rooms = $state.raw<Room[]>([]);
  /** Rooms this client has opened and not left (it stays joined to them). */
  readonly views = new SvelteMap<number, RoomView>();
  currentRoomId = $state<number | null>(null);
  connection = $state<ConnectionState>('connecting');
  everConnected = $state(false);
  readonly presence = new PresenceStore();

  readonly currentRoom = $derived(this.rooms.find((r) => r.id === this.currentRoomId) ?? null);
  readonly currentView = $derived(this.currentRoomId === null ? null : (this.views.get(this.currentRoomId) ?? null));
  readonly totalUnread = $derived([...this.views.values()].reduce((n, v) => n + v.unread, 0));
  readonly myAvatarColor = $derived(this.me ? this.presence.colorOf(this.me.user_id) : null);

  private socket: ChatSocket | null = null;
  /** Bumped on every connect and disconnect; async work from an older epoch stops. */
  private epoch = 0;
  private lastProbe = 0;
  private readonly typing = new TypingEmitter((room_id, is_typing) => {
    if (this.socket?.connected) this.socket.emit('typing', { room_id, is_typing });
  });

  get connected(): boolean {
    return this.connection === 'connected';
  }

  // ---------------------------------------------------------------- startup

  async start(): Promise<void> {
    if (this.socket) return;
    const socket = createSocket();
    this.socket = socket;
    this.wire(socket);
    await this.bootstrap();
    this.openInitialRoom();
    socket.connect();
  }

  /** Load rooms and online users; retry while the server is unreachable. */
  private async bootstrap(): Promise<void> {
    for (let delay = 1000; ; delay = Math.min(delay * 2, 10_000)) {
      try {
        const requestedAt = Date.now();
        const [rooms, online] = await Promise.all([fetchRooms(), fetchOnlineUsers().catch(() => null)]);
        this.setRooms(rooms);
        if (online) this.presence.seed(online, requestedAt);
        return;
      } catch (e) {
        if (isRedirecting()) return new Promise<void>(() => {});
        this.connection = 'disconnected';
        console.warn('Parley: cannot load rooms yet:', errorText(e));
        await sleep(delay);
      }
    }
  }

  private openInitialRoom(): void {
    if (!this.rooms.length) return;
    const last = loadLastRoomId();
    const room =
      this.rooms.find((r) => r.id === last) ??
      this.rooms.find((r) => r.room_name.toLowerCase() === DEFAULT_ROOM) ??
      this.rooms[0];
    this.openRoom(room.id);
  }

  private setRooms(list: readonly Room[]): void {
    const seen = new Set<number>();
    const next: Room[] = [];
    for (const r of list) {
      if (!r || typeof r.id !== 'number' || seen.has(r.id)) continue;
      seen.add(r.id);
      next.push(r);
    }
    // Keep rooms we know of locally (e.g. just created) that a stale list misses.
    for (const r of this.rooms) if (!seen.has(r.id) && this.views.has(r.id)) next.push(r);
    this.rooms = next;
  }

  private addRoom(id: number, name: string): void {
    if (typeof id !== 'number' || this.rooms.some((r) => r.id === id)) return;
    this.rooms = [
      ...this.rooms,
      { id, room_name: name, room_type: 'public', created_by: null, created_at: new Date().toISOString() },
    ];
  }

  roomName(id: number): string {
    return this.rooms.find((r) => r.id === id)?.room_name ?? '';
  }

  // ---------------------------------------------------------------- socket events

  private wire(socket: ChatSocket): void {
    socket.on('connect', () => {
      this.connection = 'connected';
      this.everConnected = true;
      const epoch = ++this.epoch;
      void this.resync(epoch);
    });

    socket.on('disconnect', (reason) => {
      this.connection = 'disconnected';
      this.epoch++;
      this.typing.reset();
      for (const view of this.views.values()) {
        view.join = 'none';
        view.clearTypers();
        for (const p of view.pending) {
          if (p.state === 'sending') {
            p.state = 'queued';
            p.attempt++;
          }
        }
      }
      // The server closed this socket on purpose (e.g. logged out elsewhere).
      if (reason === 'io server disconnect') void this.handleRefused();
    });

    socket.on('connect_error', (err) => {
      this.connection = 'disconnected';
      // `active` is false when the server refused the connection (no valid session);
      // otherwise it is a network problem and Socket.IO keeps retrying by itself.
      if (!socket.active) void this.handleRefused();
      else {
        console.debug('Parley: connection attempt failed:', err.message);
        // A server that rejects the handshake itself looks like a network error:
        // check the session now and then, and go to /login once it is gone.
        const now = Date.now();
        if (now - this.lastProbe > 10_000) {
          this.lastProbe = now;
          void sessionIsValid();
        }
      }
    });

    socket.on('connection_success', (p) => {
      if (p && typeof p.user_id === 'number') this.me = p;
    });

    socket.on('new_message', (m) => {
      const view = m && this.views.get(m.room_id);
      if (!view) return;
      this.ingest(view, [m]);
      if (m.username) view.setTyping(m.username, m.display_name, false);
    });

    socket.on('user_joined', (p) => {
      const view = p && this.views.get(p.room_id);
      if (!view) return;
      if (this.isMe(p.username)) {
        if (view.selfJoinShown) return;
        view.selfJoinShown = true;
      }
      view.addEvent('joined', p.message || `${p.display_name || p.username} joined the room`, handleOf(p), p.display_name || p.username);
    });

    socket.on('user_left_room', (p) => {
      const view = p && this.views.get(p.room_id);
      if (!view) return;
      view.addEvent('left', p.message || `${p.display_name || p.username} left the room`, handleOf(p), p.display_name || p.username);
      view.setTyping(p.username, p.display_name, false);
    });

    socket.on('user_typing', (p) => {
      const view = p && this.views.get(p.room_id);
      if (!view || !p.username || this.isMe(p.username)) return;
      view.setTyping(p.username, p.display_name || p.username, !!p.is_typing);
    });

    socket.on('room_created', (p) => {
      if (p && typeof p.room_id === 'number') this.addRoom(p.room_id, p.room_name);
    });

    socket.on('presence', (p) => this.presence.apply(p));
    socket.on('presence_batch', (b) => {
      if (Array.isArray(b?.users)) for (const p of b.users) this.presence.apply(p);
    });

    socket.on('chat_error', (p) => console.warn('Parley: server rejected', p?.event, p?.code, p?.message));
  }

  private isMe(username: string | undefined): boolean {
    return !!username && !!this.me && username.toLowerCase() === this.me.username.toLowerCase();
  }

  /** The server refused or dropped us: go to /login if the session is gone, else retry later. */
  private async handleRefused(): Promise<void> {
    if (!(await sessionIsValid())) return; // sessionIsValid() already redirected on 401
    await sleep(2000);
    if (this.socket && !this.socket.connected && !this.socket.active) this.socket.connect();
  }

  /** After every (re)connect: rejoin all rooms, fetch what was missed, then resend pending messages. */
  private async resync(epoch: number): Promise<void> {
    void this.refreshDirectory();
    const views = [...this.views.values()];
    await Promise.all(views.map((v) => this.joinRoom(v)));
    if (epoch !== this.epoch) return;
    await Promise.all(views.map((v) => this.loadHistory(v)));
    if (epoch !== this.epoch) return;
    await Promise.all(views.map((v) => this.flush(v)));
  }

  private async refreshDirectory(): Promise<void> {
    try {
      const requestedAt = Date.now();
      const [rooms, online] = await Promise.all([fetchRooms(), fetchOnlineUsers()]);
      this.setRooms(rooms);
      this.presence.seed(online, requestedAt);
    } catch (e) {
      console.warn('Parley: refresh failed:', errorText(e));
    }
  }

  // ---------------------------------------------------------------- rooms

  openRoom(id: number): void {
    if (this.currentRoomId !== id) this.typing.stop();
    this.currentRoomId = id;
    saveLastRoomId(id);
    let view = this.views.get(id);
    if (!view) {
      view = new RoomView(id);
      this.views.set(id, view);
    }
    view.unread = 0;
    void this.syncRoom(view);
  }

  /** Join (when connected), load or catch up history, then send what is queued. */
  private async syncRoom(view: RoomView): Promise<void> {
    if (this.connected && view.join !== 'joined' && view.join !== 'joining') {
      const ok = await this.joinRoom(view);
      if (!ok && view.join === 'error') return;
    }
    if (view.load !== 'ready') await this.loadHistory(view);
    await this.flush(view);
  }

  private async joinRoom(view: RoomView): Promise<boolean> {
    const epoch = this.epoch;
    for (let attempt = 1; ; attempt++) {
      if (!this.socket || !this.connected || epoch !== this.epoch) return false;
      view.join = 'joining';
      const res = await emitWithAck(this.socket, 'join_room', {
        room_id: view.id,
        room_name: this.roomName(view.id),
      });
      if (this.views.get(view.id) !== view) return false;
      // The connection changed meanwhile: the disconnect handler and the next
      // connection's resync own the join state now; a late answer must not undo them.
      if (epoch !== this.epoch) return false;
      if (res.ok) {
        view.join = 'joined';
        view.joinError = null;
        return true;
      }
      // Unanswered on a live connection: nothing else would ever join again (the
      // room would get no messages and its queued sends would wait forever), so ask
      // again, and after that show the error with its Retry button.
      if (res.error.code === 'timeout' && attempt < JOIN_ATTEMPTS) continue;
      if (res.error.code === 'disconnected') {
        view.join = 'none';
      } else {
        view.join = 'error';
        view.joinError = res.error.message;
      }
      return false;
    }
  }

  retryJoin(id: number): void {
    const view = this.views.get(id);
    if (!view) return;
    view.join = 'none';
    view.joinError = null;
    if (view.load === 'error') view.load = 'idle';
    void this.syncRoom(view);
  }

  /** First page of history, or the messages after the last one seen. */
  private async loadHistory(view: RoomView): Promise<void> {
    if (view.load === 'loading' && view.loadPromise) await view.loadPromise;
    if (this.views.get(view.id) !== view) return;
    if (view.load === 'ready') return this.catchUp(view);
    view.loadPromise = this.loadInitial(view);
    await view.loadPromise;
    view.loadPromise = null;
  }

  private async loadInitial(view: RoomView): Promise<void> {
    view.load = 'loading';
    view.loadError = null;
    try {
      const list = await fetchMessages(view.id);
      if (this.views.get(view.id) !== view) return;
      view.applyInitial(list);
      if (list.length === 0) view.hasMoreOlder = false;
    } catch (e) {
      view.load = 'error';
      view.loadError = errorText(e);
    }
  }

  private async catchUp(view: RoomView): Promise<void> {
    try {
      let after = view.lastSeenId;
      if (after === 0) {
        // Nothing seen yet: the latest page is all there is to catch up with.
        this.ingest(view, await fetchMessages(view.id));
        return;
      }
      for (let guard = 0; guard < 10_000; guard++) {
        const page = await fetchMessages(view.id, { after, limit: CATCH_UP_PAGE });
        if (this.views.get(view.id) !== view) return;
        this.ingest(view, page);
        if (page.length < CATCH_UP_PAGE) return;
        const maxId = Math.max(...page.map((m) => m.id));
        if (!(maxId > after)) return;
        after = maxId;
      }
    } catch (e) {
      console.warn('Parley: catch-up failed for room', view.id, errorText(e));
    }
  }

  /** Older history for the scroll-back: pages of HISTORY_PAGE until an empty page. */
  async loadOlder(id: number): Promise<void> {
    const view = this.views.get(id);
    if (!view || view.loadingOlder || !view.hasMoreOlder || view.load !== 'ready') return;
    const before = view.oldestId;
    if (before === null) {
      view.hasMoreOlder = false;
      return;
    }
    view.loadingOlder = true;
    view.olderError = null;
    try {
      const page = await fetchMessages(view.id, { before, limit: HISTORY_PAGE });
      if (page.length === 0) view.hasMoreOlder = false;
      else view.merge(page);
    } catch (e) {
      view.olderError = errorText(e);
    } finally {
      view.loadingOlder = false;
    }
  }

  /** Merge messages into a room, counting unread ones when it is not the open room. */
  private ingest(view: RoomView, list: readonly ChatMessage[]): void {
    const added = view.merge(list);
    if (view.id !== this.currentRoomId && added.length) {
      const me = this.me?.user_id;
      view.unread += added.filter((m) => m.user_id !== me && m.message_type !== 'system').length;
    }
  }

  async createRoom(rawName: string): Promise<string | null> {
    const name = rawName.trim();
    if (!name) return 'Enter a room name.';
    if (charCount(name) > MAX_ROOM_NAME_CHARS) return `Room names are at most ${MAX_ROOM_NAME_CHARS} characters.`;
    if (!this.socket || !this.connected) return 'Not connected to the server. Try again in a moment.';
    const res = await emitWithAck(this.socket, 'create_room', { room_name: name });
    if (!res.ok) return res.error.message;
    this.addRoom(res.room_id, res.room_name || name);
    this.openRoom(res.room_id);
    return null;
  }

  async leaveRoom(id: number): Promise<string | null> {
    const view = this.views.get(id);
    if (!view) return null;
    if (this.socket && this.connected && view.join === 'joined') {
      const res = await emitWithAck(this.socket, 'leave_room', { room_id: id });
      if (!res.ok && res.error.code !== 'not_in_room' && res.error.code !== 'disconnected') {
        return res.error.message;
      }
    }
    if (this.currentRoomId === id) this.typing.stop();
    this.views.delete(id);
    view.dispose();
    if (this.currentRoomId === id) {
      const next = this.rooms.find((r) => this.views.has(r.id));
      if (next) this.openRoom(next.id);
      else {
        this.currentRoomId = null;
        saveLastRoomId(null);
      }
    }
    return null;
  }

  // ---------------------------------------------------------------- messages

  /** Queue a message for the current room. Returns an error text, or null when queued. */
  send(roomId: number, raw: string): string | null {
    const view = this.views.get(roomId);
    if (!view) return 'Open a room first.';
    const text = raw.trim();
    const n = charCount(text);
    if (n === 0) return 'Type a message first.';
    if (n > MAX_MESSAGE_CHARS) return `Messages are at most ${MAX_MESSAGE_CHARS} characters (this one has ${n}).`;
    this.typing.stop();
    view.pending.push({
      client_id: newClientId(),
      room_id: roomId,
      message: text,
      created_at: new Date().toISOString(),
      state: 'queued',
      error: null,
      attempt: 0,
    });
    if (view.join === 'joined') void this.flush(view);
    return null;
  }

  retry(roomId: number, clientId: string): void {
    const view = this.views.get(roomId);
    const p = view?.findPending(clientId);
    if (!view || !p || p.state !== 'failed') return;
    p.state = 'queued';
    p.error = null;
    if (view.join === 'joined') void this.flush(view);
    else if (this.connected) void this.syncRoom(view);
  }

  discard(roomId: number, clientId: string): void {
    this.views.get(roomId)?.removePending(clientId);
  }

  /** Send queued messages of a room one by one, in order, while connected. */
  private async flush(view: RoomView): Promise<void> {
    if (view.flushing) return;
    view.flushing = true;
    try {
      const epoch = this.epoch;
      for (;;) {
        if (!this.connected || epoch !== this.epoch || view.join !== 'joined') return;
        if (this.views.get(view.id) !== view) return;
        const next = view.nextQueued();
        if (!next) return;
        await this.transmit(view, next);
      }
    } finally {
      view.flushing = false;
    }
  }

  private async transmit(view: RoomView, p: PendingMessage): Promise<void> {
    if (!this.socket) return;
    const attempt = ++p.attempt;
    p.state = 'sending';
    p.error = null;
    const { client_id, room_id, message } = p;
    const res = await emitWithAck(this.socket, 'send_message', { room_id, message, client_id });
    const cur = view.findPending(client_id);
    if (!cur || cur.attempt !== attempt) return; // already echoed, discarded or superseded
    if (res.ok) {
      const me = this.me;
      view.confirm(client_id, {
        id: res.id,
        room_id,
        user_id: me?.user_id ?? -1,
        username: me?.username ?? '',
        display_name: me?.display_name ?? me?.username ?? '',
        avatar_color: this.myAvatarColor ?? '',
        message,
        message_type: 'text',
        timestamp: res.timestamp || new Date().toISOString(),
        client_id,
      });
    } else if (res.error.code === 'disconnected') {
      cur.state = 'queued';
    } else {
      cur.state = 'failed';
      cur.error = res.error;
    }
  }

  // ---------------------------------------------------------------- typing

  typingInput(roomId: number, hasText: boolean): void {
    this.typing.input(roomId, hasText);
  }

  typingStop(): void {
    this.typing.stop();
  }
}

export const chat = new ChatStore();

/** The username to show beside a join or leave line, when the display name could be someone else's. */
function handleOf(p: { username: string; display_name?: string | null }): string | null {
  return p.display_name && differsFromUsername(p.display_name, p.username) ? p.username : null;
}
