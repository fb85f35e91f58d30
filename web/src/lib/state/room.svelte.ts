// Per-room client state: stored messages (sorted by id, deduplicated), local
// system lines, pending sends, unread count, typers and load/join status.
import type { ChatMessage, WireError } from '../types';

export type PendingState = 'queued' | 'sending' | 'failed';

export interface PendingMessage {
  client_id: string;
  room_id: number;
  message: string;
  created_at: string;
  state: PendingState;
  error: WireError | null;
  /** Bumped on every transmission; a late ack of an older attempt is ignored. */
  attempt: number;
}

export interface LocalEvent {
  seq: number;
  kind: 'joined' | 'left';
  text: string;
  /** The username, shown as @username beside the text when the display name differs. */
  handle: string | null;
  /** The display name the text starts with, shown as a bidi isolate of its own. */
  name: string | null;
  at: string;
  /** Shown after the message with this id (0: before every message); null until history is loaded. */
  afterId: number | null;
}

/** A stored message; `provisional` while known only from our own ack, not yet from the server's stream. */
export interface StoredMessage extends ChatMessage {
  provisional?: boolean;
}

export interface Typer {
  username: string;
  name: string;
}

export type LoadStatus = 'idle' | 'loading' | 'ready' | 'error';
export type JoinStatus = 'none' | 'joining' | 'joined' | 'error';

export const TYPER_TTL_MS = 6000;

function isMessage(m: unknown): m is ChatMessage {
  if (!m || typeof m !== 'object') return false;
  const r = m as Record<string, unknown>;
  return typeof r.id === 'number' && Number.isFinite(r.id) && typeof r.message === 'string';
}

/** Index of the first message whose id is >= id (binary search). */
function lowerBound(list: readonly StoredMessage[], id: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class RoomView {
  readonly id: number;
  messages = $state.raw<StoredMessage[]>([]);
  events = $state.raw<LocalEvent[]>([]);
  pending = $state<PendingMessage[]>([]);
  unread = $state(0);
  load = $state<LoadStatus>('idle');
  loadError = $state<string | null>(null);
  join = $state<JoinStatus>('none');
  joinError = $state<string | null>(null);
  loadingOlder = $state(false);
  hasMoreOlder = $state(true);
  olderError = $state<string | null>(null);
  typers = $state.raw<Typer[]>([]);

  /** In-flight initial history request, shared by concurrent callers. */
  loadPromise: Promise<void> | null = null;
  /** True while the send queue is being drained. */
  flushing = false;
  /** Our own "joined" line is shown once per visit, not again after a reconnect. */
  selfJoinShown = false;

  private eventSeq = 0;
  private typerTimers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(id: number) {
    this.id = id;
  }

  get oldestId(): number | null {
    return this.messages.length ? this.messages[0].id : null;
  }

  /** Highest id received from the server's stream or history (not from an ack alone). */
  get lastSeenId(): number {
    for (let i = this.messages.length - 1; i >= 0; i--) {
      if (!this.messages[i].provisional) return this.messages[i].id;
    }
    return 0;
  }

  get lastId(): number {
    return this.messages.length ? this.messages[this.messages.length - 1].id : 0;
  }

  has(id: number): boolean {
    const i = lowerBound(this.messages, id);
    return i < this.messages.length && this.messages[i].id === id;
  }

  /**
   * Merge messages (any order, any overlap). Returns the ones that were new.
   * A server copy replaces a provisional one; pending sends echoed back by
   * client_id are dropped from the pending list.
   */
  merge(incoming: readonly (ChatMessage | StoredMessage)[]): StoredMessage[] {
    const valid = incoming.filter(isMessage) as StoredMessage[];
    if (!valid.length) return [];
    const added: StoredMessage[] = [];
    const current = this.messages;

    if (valid.length === 1 && (current.length === 0 || valid[0].id > current[current.length - 1].id)) {
      // Fast path: a live message at the end.
      added.push(valid[0]);
      this.messages = [...current, valid[0]];
    } else {
      const byId = new Map<number, StoredMessage>();
      for (const m of current) byId.set(m.id, m);
      for (const m of valid) {
        const existing = byId.get(m.id);
        if (!existing) {
          added.push(m);
          byId.set(m.id, m);
        } else if (existing.provisional && !m.provisional) {
          byId.set(m.id, m);
        }
      }
      const next = [...byId.values()].sort((a, b) => a.id - b.id);
      const changed = next.length !== current.length || next.some((m, i) => m !== current[i]);
      if (changed) this.messages = next;
    }

    const echoed = new Set(valid.map((m) => m.client_id).filter((c): c is string => !!c));
    if (echoed.size && this.pending.some((p) => echoed.has(p.client_id))) {
      this.pending = this.pending.filter((p) => !echoed.has(p.client_id));
    }
    return added;
  }

  /** First history page arrived: merge it and anchor system lines that came before it. */
  applyInitial(list: readonly ChatMessage[]): StoredMessage[] {
    const added = this.merge(list);
    const anchor = this.lastId;
    if (this.events.some((e) => e.afterId === null)) {
      this.events = this.events.map((e) => (e.afterId === null ? { ...e, afterId: anchor } : e));
    }
    this.load = 'ready';
    this.loadError = null;
    return added;
  }

  addEvent(kind: LocalEvent['kind'], text: string, handle: string | null = null, name: string | null = null): void {
    const ev: LocalEvent = {
      seq: ++this.eventSeq,
      kind,
      text,
      handle,
      name,
      at: new Date().toISOString(),
      afterId: this.load === 'ready' ? this.lastId : null,
    };
    this.events = [...this.events, ev];
  }

  findPending(clientId: string): PendingMessage | undefined {
    return this.pending.find((p) => p.client_id === clientId);
  }

  nextQueued(): PendingMessage | undefined {
    return this.pending.find((p) => p.state === 'queued');
  }

  removePending(clientId: string): PendingMessage | undefined {
    const p = this.findPending(clientId);
    if (p) this.pending = this.pending.filter((x) => x.client_id !== clientId);
    return p;
  }

  /** The server stored our message: swap the pending entry for a (provisional) stored one. */
  confirm(clientId: string, stored: StoredMessage): void {
    const p = this.findPending(clientId);
    if (!p) return;
    this.pending = this.pending.filter((x) => x.client_id !== clientId);
    if (!this.has(stored.id)) this.merge([{ ...stored, provisional: true }]);
  }

  setTyping(username: string, name: string, isTyping: boolean): void {
    const key = username.toLowerCase();
    const timer = this.typerTimers.get(key);
    if (timer) clearTimeout(timer);
    this.typerTimers.delete(key);
    const others = this.typers.filter((t) => t.username.toLowerCase() !== key);
    if (isTyping) {
      this.typerTimers.set(
        key,
        setTimeout(() => this.setTyping(username, name, false), TYPER_TTL_MS),
      );
      const existing = this.typers.find((t) => t.username.toLowerCase() === key);
      this.typers = existing && existing.name === name ? this.typers : [...others, { username, name }];
    } else if (others.length !== this.typers.length) {
      this.typers = others;
    }
  }

  clearTypers(): void {
    for (const t of this.typerTimers.values()) clearTimeout(t);
    this.typerTimers.clear();
    if (this.typers.length) this.typers = [];
  }

  dispose(): void {
    this.clearTypers();
  }
}
