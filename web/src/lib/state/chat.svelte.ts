// The chat controller: rooms, joined-room state, sending, and the Socket.IO
// lifecycle (initial connect, reconnect + catch-up, resend of pending messages).
import { SvelteMap } from 'svelte/reactivity';
import {
  ApiError,
  createRoomHttp,
  fetchMe,
  fetchMembers,
  fetchMessages,
  fetchOnlineUsers,
  fetchRooms,
  isRedirecting,
  openDirect,
  sessionIsValid,
} from '../api';
import { createSocket, emitWithAck, type ChatSocket } from '../socket';
import { loadLastRoomId, saveLastRoomId } from '../storage';
import { charCount, differsFromUsername, MAX_MESSAGE_CHARS, MAX_ROOM_NAME_CHARS, newClientId } from '../text';
import type { Account, ChatMessage, Me, Room, User } from '../types';
import { PresenceStore } from './presence.svelte';
import { RoomView, type PendingMessage } from './room.svelte';
import { TypingEmitter } from './typing';
import { ui } from './ui.svelte';

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

export const HISTORY_PAGE = 50;
export const CATCH_UP_PAGE = 200;
/** How many messages GET /api/messages/<id> answers without a limit (Part A). */
const INITIAL_PAGE = 100;
/** How many times an unanswered `join_room` is sent before the room shows an error. */
const JOIN_ATTEMPTS = 3;
const DEFAULT_ROOM = 'general';

/** A room member as the online panel shows it: the user and their role in the room. */
export interface RoomMemberEntry extends User {
  room_role: string | null;
}

const byLabel = (a: { label: string }, b: { label: string }) =>
  a.label.localeCompare(b.label, undefined, { sensitivity: 'base' });

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
  /** GET /api/me (role, colour); null on a server without Part C. */
  account = $state.raw<Account | null>(null);
  /** Members of the rooms whose list was loaded (the open room's, for the online panel). */
  readonly members = new SvelteMap<number, RoomMemberEntry[]>();
  /** Rooms whose member list could not be loaded (a server without Part C). */
  readonly membersFailed = new SvelteMap<number, string>();

  /** The server speaks Part C: rooms carry `is_member`, sockets get the `membership` capability. */
  readonly membership = $derived(this.rooms.some((r) => typeof r.is_member === 'boolean'));
  readonly isAdmin = $derived(this.account?.role === 'admin');
  /** Sidebar "Rooms": public and private rooms one is a member of (every room on a Part A server). */
  readonly memberRooms = $derived(
    this.rooms.filter((r) => r.room_type !== 'direct' && r.is_member !== false && !r.archived),
  );
  /** Sidebar "Direct messages", named after the other people. */
  readonly directRooms = $derived(
    this.rooms
      .filter((r) => r.room_type === 'direct' && r.is_member !== false && !r.archived)
      .map((r) => ({ room: r, label: this.roomLabel(r) }))
      .sort(byLabel),
  );
  /** The room browser: public rooms one is not a member of. */
  readonly browsableRooms = $derived(
    this.rooms.filter((r) => r.room_type === 'public' && r.is_member === false && !r.archived),
  );
  /** Sidebar order, for Alt+Up/Down: rooms, then direct messages. */
  readonly navOrder = $derived([...this.memberRooms.map((r) => r.id), ...this.directRooms.map((d) => d.room.id)]);

  readonly currentRoom = $derived(this.rooms.find((r) => r.id === this.currentRoomId) ?? null);
  readonly currentLabel = $derived(this.currentRoom ? this.roomLabel(this.currentRoom) : '');
  readonly currentView = $derived(this.currentRoomId === null ? null : (this.views.get(this.currentRoomId) ?? null));
  readonly totalUnread = $derived([...this.views.values()].reduce((n, v) => n + v.unread, 0));
  readonly myAvatarColor = $derived(
    this.me ? this.presence.colorOf(this.me.user_id) || this.account?.avatar_color || null : null,
  );

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
        const [rooms, online, account] = await Promise.all([
          fetchRooms(),
          fetchOnlineUsers().catch(() => null),
          fetchMe().catch(() => null),
        ]);
        this.setRooms(rooms);
        if (online) this.presence.seed(online, requestedAt);
        if (account && typeof account.id === 'number') this.setAccount(account);
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
    const mine = [...this.memberRooms, ...this.directRooms.map((d) => d.room)];
    if (!mine.length) return;
    const last = loadLastRoomId();
    const room =
      mine.find((r) => r.id === last) ??
      mine.find((r) => r.room_type !== 'direct' && r.room_name.toLowerCase() === DEFAULT_ROOM) ??
      mine[0];
    this.openRoom(room.id);
  }

  private setAccount(a: Account): void {
    this.account = a;
    this.presence.upsert({ ...a, is_online: undefined });
  }

  roomById(id: number): Room | null {
    return this.rooms.find((r) => r.id === id) ?? null;
  }

  /** A room's name as shown: a direct room is named after the other people in it. */
  roomLabel(r: Room): string {
    if (r.room_type !== 'direct') return r.room_name;
    const me = this.me?.user_id ?? this.account?.id;
    const others = (r.members ?? []).filter((m) => m.id !== me);
    if (!others.length) return r.members?.length ? 'Just you' : r.room_name;
    return others.map((m) => this.personName(m.id) ?? (m.display_name || m.username)).join(', ');
  }

  /** The other person of a one-to-one direct room (for its presence dot). */
  directPeer(r: Room): number | null {
    const me = this.me?.user_id ?? this.account?.id;
    const others = (r.members ?? []).filter((m) => m.id !== me);
    return others.length === 1 ? others[0].id : null;
  }

  personName(id: number): string | null {
    const p = this.presence.byId.get(id);
    if (p) return p.display_name || p.username;
    for (const list of this.members.values()) {
      const m = list.find((u) => u.id === id);
      if (m) return m.display_name || m.username;
    }
    for (const r of this.rooms) {
      const m = r.members?.find((u) => u.id === id);
      if (m) return m.display_name || m.username;
    }
    return null;
  }

  /** May the user rename, set the topic, archive, and manage members of this room? */
  canManage(r: Room | null): boolean {
    if (!r || r.room_type === 'direct') return false;
    if (r.my_role === 'owner') return true;
    const me = this.me?.user_id ?? this.account?.id;
    if (this.members.get(r.id)?.some((m) => m.id === me && m.room_role === 'owner')) return true;
    return this.isAdmin && (r.room_type === 'public' || r.is_member !== false);
  }

  /** Insert or update a room; the local membership facts win over a broadcast copy. */
  private upsertRoom(r: Room, fields: Partial<Room> = {}): void {
    if (!r || typeof r.id !== 'number') return;
    const i = this.rooms.findIndex((x) => x.id === r.id);
    if (i < 0) {
      this.rooms = [...this.rooms, { ...r, ...fields }];
      return;
    }
    const old = this.rooms[i];
    const next = {
      ...old,
      ...r,
      is_member: old.is_member ?? r.is_member,
      my_role: old.my_role !== undefined ? old.my_role : r.my_role,
      ...fields,
    };
    this.rooms = this.rooms.map((x, j) => (j === i ? next : x));
  }

  /** The membership ended (left, removed, archived): drop the room from the sidebar. */
  private dropRoom(id: number, why: 'left' | 'removed' | 'archived'): void {
    const room = this.roomById(id);
    if (!room) return;
    const keepListed = room.room_type === 'public' && !room.archived && why !== 'archived';
    this.rooms = keepListed
      ? this.rooms.map((r) => (r.id === id ? { ...r, is_member: false, my_role: null } : r))
      : this.rooms.filter((r) => r.id !== id);
    this.members.delete(id);
    const view = this.views.get(id);
    if (view) {
      if (this.currentRoomId === id) this.typing.stop();
      this.views.delete(id);
      view.dispose();
    }
    if (this.currentRoomId === id) {
      const next = this.navOrder[0];
      if (next !== undefined) this.openRoom(next);
      else {
        this.currentRoomId = null;
        saveLastRoomId(null);
      }
    }
    const label = room.room_type === 'direct' ? this.roomLabel(room) : `#${room.room_name}`;
    if (why === 'left') ui.notify(`You left ${label}.`);
    else if (why === 'removed') ui.notify(`You are no longer a member of ${label}.`);
    else ui.notify(`${label} was archived.`);
  }

  private membersTimer: ReturnType<typeof setTimeout> | null = null;

  /**
   * Someone came online who is not in the open room's member list: they may have
   * become a member without an event we saw (a new account joins General), so
   * the list is read again (a few times a second at most).
   */
  private checkMembers(list: readonly { user_id: number; is_online: boolean }[]): void {
    const id = this.currentRoomId;
    const members = id === null ? undefined : this.members.get(id);
    if (!this.membership || id === null || !members || this.membersTimer) return;
    if (!list.some((p) => p && p.is_online && !members.some((m) => m.id === p.user_id))) return;
    this.membersTimer = setTimeout(() => {
      this.membersTimer = null;
      if (this.currentRoomId === id) void this.loadMembers(id);
    }, 200);
  }

  /** Load (or reload) a room's members for the online panel and the details sheet. */
  async loadMembers(id: number): Promise<void> {
    try {
      const list = await fetchMembers(id);
      if (!Array.isArray(list)) return;
      this.members.set(
        id,
        list.map((u) => ({ ...u, room_role: roomRoleOf(u) })),
      );
      this.membersFailed.delete(id);
      for (const u of list) this.presence.upsert({ ...u, role: undefined });
    } catch (e) {
      this.membersFailed.set(id, errorText(e));
    }
  }

  private setRooms(list: readonly Room[], refresh = false): void {
    const seen = new Set<number>();
    const next: Room[] = [];
    for (const r of list) {
      if (!r || typeof r.id !== 'number' || seen.has(r.id)) continue;
      seen.add(r.id);
      next.push(r);
    }
    // Keep rooms we know of locally (e.g. just created) that a stale list misses.
    // With Part C the list is the truth: a room missing from it was left or archived.
    if (!(refresh && next.some((r) => typeof r.is_member === 'boolean'))) {
      for (const r of this.rooms) if (!seen.has(r.id) && this.views.has(r.id)) next.push(r);
    }
    this.rooms = next;
    if (refresh && this.currentRoomId !== null && !this.myRoom(this.currentRoomId)) {
      const gone = this.currentRoomId;
      const view = this.views.get(gone);
      this.views.delete(gone);
      view?.dispose();
      const first = this.navOrder[0];
      if (first !== undefined) this.openRoom(first);
      else this.currentRoomId = null;
    }
  }

  private addRoom(id: number, name: string): void {
    if (typeof id !== 'number' || this.rooms.some((r) => r.id === id)) return;
    const room: Room = { id, room_name: name, room_type: 'public', created_by: null, created_at: new Date().toISOString() };
    // Part C: someone else's new public room goes to the room browser, not the sidebar.
    this.rooms = [...this.rooms, this.membership ? { ...room, topic: '', is_member: false, archived: false, my_role: null } : room];
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
      if (!m || typeof m.room_id !== 'number') return;
      let view = this.views.get(m.room_id);
      // A membership socket receives every member room: count unread ones not opened yet.
      if (!view && this.membership && this.roomById(m.room_id)?.is_member) {
        view = new RoomView(m.room_id);
        view.join = this.connected ? 'joined' : 'none';
        this.views.set(m.room_id, view);
      }
      if (!view) return;
      this.ingest(view, [m]);
      if (m.username) view.setTyping(m.username, m.display_name, false);
    });

    socket.on('user_joined', (p) => {
      const view = p && this.views.get(p.room_id);
      if (!view) return;
      // Part C: only a membership that began is news; a reconnect or another tab is not.
      if (p.new_member === false) return;
      if (this.isMe(p.username)) {
        if (view.selfJoinShown) return;
        view.selfJoinShown = true;
      }
      view.addEvent('joined', p.message || `${p.display_name || p.username} joined the room`, handleOf(p), p.display_name || p.username);
    });

    socket.on('user_left_room', (p) => {
      const view = p && this.views.get(p.room_id);
      if (!view) return;
      if (p.new_member === false) {
        view.setTyping(p.username, p.display_name, false);
        return;
      }
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

    socket.on('room_added', (r) => {
      if (!r || typeof r.id !== 'number') return;
      this.upsertRoom(r, { is_member: true, my_role: r.my_role ?? 'member' });
      const view = this.views.get(r.id);
      if (view && this.connected) view.join = 'joined';
    });
    socket.on('room_updated', (r) => {
      if (!r || typeof r.id !== 'number') return;
      this.upsertRoom(r);
      if (r.archived) this.dropRoom(r.id, 'archived');
    });
    socket.on('room_removed', (p) => {
      if (!p || typeof p.room_id !== 'number') return;
      if (this.leaving.has(p.room_id)) return; // our own leave says so itself
      const room = this.roomById(p.room_id);
      this.dropRoom(p.room_id, room?.archived ? 'archived' : 'removed');
    });
    socket.on('member_added', (p) => {
      if (!p || typeof p.room_id !== 'number' || !p.user) return;
      this.presence.upsert({ ...p.user, role: undefined });
      const list = this.members.get(p.room_id);
      if (list && !list.some((u) => u.id === p.user.id)) {
        this.members.set(p.room_id, [...list, { ...p.user, room_role: roomRoleOf(p.user) ?? 'member' }]);
      }
    });
    socket.on('member_removed', (p) => {
      if (!p || typeof p.room_id !== 'number') return;
      const list = this.members.get(p.room_id);
      if (list) this.members.set(p.room_id, list.filter((u) => u.id !== p.user_id));
    });
    socket.on('user_updated', (u) => {
      if (!u || typeof u.id !== 'number') return;
      this.presence.upsert(u);
      for (const [id, list] of this.members) {
        if (list.some((m) => m.id === u.id)) {
          this.members.set(id, list.map((m) => (m.id === u.id ? { ...m, ...u, room_role: m.room_role } : m)));
        }
      }
      if (this.me && u.id === this.me.user_id) {
        this.me = { ...this.me, display_name: u.display_name || this.me.display_name };
        if (this.account) this.account = { ...this.account, ...u, role: u.role ?? this.account.role };
      }
    });

    socket.on('presence', (p) => {
      this.presence.apply(p);
      this.checkMembers([p]);
    });
    socket.on('presence_batch', (b) => {
      if (!Array.isArray(b?.users)) return;
      for (const p of b.users) this.presence.apply(p);
      this.checkMembers(b.users);
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
      this.setRooms(rooms, true);
      this.presence.seed(online, requestedAt);
      if (this.currentRoomId !== null && this.membership) void this.loadMembers(this.currentRoomId);
    } catch (e) {
      console.warn('Parley: refresh failed:', errorText(e));
    }
  }

  // ---------------------------------------------------------------- rooms

  /** A room the user belongs to (every listed room on a Part A server). */
  myRoom(id: number): boolean {
    const r = this.roomById(id);
    return !!r && r.is_member !== false && !r.archived;
  }

  openRoom(id: number): void {
    if (this.currentRoomId !== id) this.typing.stop();
    if (this.membership && this.currentRoomId !== id) void this.loadMembers(id);
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
    // A membership socket already receives every member room: nothing to join.
    if (this.membership && this.roomById(view.id)?.is_member) {
      if (this.connected) view.join = 'joined';
      return this.connected;
    }
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
        // On a public room join_room makes the user a member (room_added follows).
        if (this.membership) this.upsertRoom({ ...(this.roomById(view.id) as Room) }, { is_member: true });
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
      // A first page shorter than the server's 100 is the whole history: the room's
      // start is in view ("This is the beginning…", "Alice created this room").
      if (list.length < INITIAL_PAGE) view.hasMoreOlder = false;
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

  async createRoom(
    rawName: string,
    opts: { type?: 'public' | 'private'; topic?: string; memberIds?: number[] } = {},
  ): Promise<string | null> {
    const name = rawName.trim();
    if (!name) return 'Enter a room name.';
    if (charCount(name) > MAX_ROOM_NAME_CHARS) return `Room names are at most ${MAX_ROOM_NAME_CHARS} characters.`;
    if (this.membership) {
      try {
        const room = await createRoomHttp({
          room_name: name,
          room_type: opts.type ?? 'public',
          topic: opts.topic?.trim() || undefined,
          member_ids: opts.memberIds?.length ? opts.memberIds : undefined,
        });
        this.upsertRoom(room, { is_member: true, my_role: 'owner' });
        this.openRoom(room.id);
        return null;
      } catch (e) {
        return errorText(e);
      }
    }
    if (!this.socket || !this.connected) return 'Not connected to the server. Try again in a moment.';
    const res = await emitWithAck(this.socket, 'create_room', { room_name: name });
    if (!res.ok) return res.error.message;
    this.addRoom(res.room_id, res.room_name || name);
    this.openRoom(res.room_id);
    return null;
  }

  /** Rooms being left by this client: their `room_removed` is our own doing. */
  private readonly leaving = new Set<number>();

  /** Join a public room from the room browser, then open it. */
  async joinPublic(id: number): Promise<string | null> {
    if (!this.socket || !this.connected) return 'Not connected to the server. Try again in a moment.';
    const room = this.roomById(id);
    // An unanswered join is asked again, as at a Part A connect (the server stores
    // a membership once, so a retry is safe).
    let res = await emitWithAck(this.socket, 'join_room', { room_id: id, room_name: room?.room_name ?? '' });
    for (let attempt = 1; !res.ok && res.error.code === 'timeout' && attempt < JOIN_ATTEMPTS && this.socket; attempt++) {
      res = await emitWithAck(this.socket, 'join_room', { room_id: id, room_name: room?.room_name ?? '' });
    }
    if (!res.ok) return res.error.message;
    this.upsertRoom({ ...(room ?? { id, room_name: res.room_name, room_type: 'public', created_by: null, created_at: null }) }, { is_member: true });
    this.openRoom(id);
    const view = this.views.get(id);
    if (view) view.join = 'joined';
    return null;
  }

  /** Start (or reopen) the direct conversation with these people. */
  async startDirect(userIds: number[]): Promise<string | null> {
    try {
      const room = await openDirect(userIds);
      this.upsertRoom(room, { is_member: true });
      this.openRoom(room.id);
      return null;
    } catch (e) {
      return errorText(e);
    }
  }

  async leaveRoom(id: number): Promise<string | null> {
    if (this.membership) {
      // leave_room on a membership socket ends the membership on every device.
      if (!this.socket || !this.connected) return 'Not connected to the server. Try again in a moment.';
      this.leaving.add(id);
      try {
        const res = await emitWithAck(this.socket, 'leave_room', { room_id: id });
        if (!res.ok && res.error.code !== 'not_in_room') return res.error.message;
        this.dropRoom(id, 'left');
        return null;
      } finally {
        setTimeout(() => this.leaving.delete(id), 5000);
      }
    }
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

/**
 * A member's role in the room. docs/protocol.md gives member items "the room `role`"
 * beside a user's server `role`: read `room_role` when the server names it so, else
 * `role` when it holds a room role.
 */
function roomRoleOf(u: { role?: string; room_role?: string | null }): string | null {
  if (typeof u.room_role === 'string') return u.room_role;
  return u.role === 'owner' || u.role === 'member' ? u.role : null;
}
