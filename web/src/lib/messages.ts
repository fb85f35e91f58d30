// Turn a room's state into the flat list the message view renders.
import type { Me, WireError } from './types';
import type { LocalEvent, PendingMessage, PendingState, StoredMessage } from './state/room.svelte';
import { parseTime } from './time';

export const GROUP_WINDOW_MS = 5 * 60 * 1000;

export interface MessageItem {
  kind: 'message';
  key: string;
  id: number | null;
  userId: number | null;
  username: string;
  displayName: string;
  avatarColor: string | null;
  text: string;
  timestamp: string;
  own: boolean;
  /** Continues the previous message of the same person: no avatar/name header. */
  grouped: boolean;
  status: 'sent' | PendingState;
  error: WireError | null;
  clientId: string | null;
}

export interface SystemItem {
  kind: 'system';
  key: string;
  id: number | null;
  text: string;
  /** A username shown as @username beside the text (join and leave lines). */
  handle?: string | null;
  /** The display name the text starts with (join and leave lines). */
  name?: string | null;
  timestamp: string | null;
}

export type DisplayItem = MessageItem | SystemItem;

export interface BuildInput {
  messages: readonly StoredMessage[];
  events: readonly LocalEvent[];
  pending: readonly PendingMessage[];
  me: Me | null;
  myAvatarColor: string | null;
  /** The current name and colour of a user (they may have changed since the message). */
  people?: (userId: number) => { display_name: string; avatar_color: string } | undefined;
}

export function buildItems({ messages, events, pending, me, myAvatarColor, people }: BuildInput): DisplayItem[] {
  const out: DisplayItem[] = [];
  const keys = new Set<string>();
  const uniqueKey = (preferred: string, fallback: string): string => {
    let k = keys.has(preferred) ? fallback : preferred;
    let n = 1;
    while (keys.has(k)) k = `${fallback}#${n++}`;
    keys.add(k);
    return k;
  };

  const pushMessage = (item: Omit<MessageItem, 'grouped' | 'key'> & { preferredKey: string; fallbackKey: string }) => {
    const prev = out[out.length - 1];
    const t = parseTime(item.timestamp);
    const grouped =
      !!prev &&
      prev.kind === 'message' &&
      prev.userId !== null &&
      prev.userId === item.userId &&
      Math.abs(t - parseTime(prev.timestamp)) < GROUP_WINDOW_MS;
    const { preferredKey, fallbackKey, ...rest } = item;
    out.push({ ...rest, grouped, key: uniqueKey(preferredKey, fallbackKey) });
  };

  const sortedEvents = [...events].sort((a, b) => (a.afterId ?? Infinity) - (b.afterId ?? Infinity) || a.seq - b.seq);
  let ei = 0;
  const flushEvents = (beforeId: number) => {
    while (ei < sortedEvents.length && (sortedEvents[ei].afterId ?? Infinity) < beforeId) {
      const e = sortedEvents[ei++];
      out.push({ kind: 'system', key: uniqueKey(`e:${e.seq}`, `e:${e.seq}`), id: null, text: e.text, handle: e.handle, name: e.name, timestamp: e.at });
    }
  };

  for (const m of messages) {
    flushEvents(m.id);
    if (m.message_type === 'system') {
      out.push({ kind: 'system', key: uniqueKey(`m:${m.id}`, `m:${m.id}`), id: m.id, text: m.message, timestamp: m.timestamp });
      continue;
    }
    pushMessage({
      kind: 'message',
      preferredKey: m.client_id ? `c:${m.user_id}:${m.client_id}` : `m:${m.id}`,
      fallbackKey: `m:${m.id}`,
      id: m.id,
      userId: m.user_id,
      username: m.username,
      displayName: people?.(m.user_id)?.display_name || m.display_name || m.username,
      avatarColor: people?.(m.user_id)?.avatar_color || m.avatar_color,
      text: m.message,
      timestamp: m.timestamp,
      own: !!me && m.user_id === me.user_id,
      status: 'sent',
      error: null,
      clientId: m.client_id ?? null,
    });
  }
  flushEvents(Infinity);
  // Events that arrived before history loaded (afterId null) go last.
  while (ei < sortedEvents.length) {
    const e = sortedEvents[ei++];
    out.push({ kind: 'system', key: uniqueKey(`e:${e.seq}`, `e:${e.seq}`), id: null, text: e.text, handle: e.handle, name: e.name, timestamp: e.at });
  }

  for (const p of pending) {
    pushMessage({
      kind: 'message',
      preferredKey: `c:${me?.user_id ?? 'me'}:${p.client_id}`,
      fallbackKey: `p:${p.client_id}`,
      id: null,
      userId: me?.user_id ?? null,
      username: me?.username ?? '',
      displayName: people?.(me?.user_id ?? -1)?.display_name || me?.display_name || me?.username || 'You',
      avatarColor: myAvatarColor,
      text: p.message,
      timestamp: p.created_at,
      own: true,
      status: p.state,
      error: p.error,
      clientId: p.client_id,
    });
  }
  return out;
}
