// Who is online: seeded from GET /api/online-users, updated by `presence` events.
import { SvelteMap } from 'svelte/reactivity';
import type { OnlineUser, PresencePayload, User } from '../types';

export interface PresenceEntry {
  user_id: number;
  username: string;
  display_name: string;
  avatar_color: string;
  is_online: boolean;
  last_seen: string | null;
  role?: string;
  deactivated?: boolean;
}

const byName = (a: PresenceEntry, b: PresenceEntry) =>
  (a.display_name || a.username).localeCompare(b.display_name || b.username, undefined, { sensitivity: 'base' });

export class PresenceStore {
  readonly byId = new SvelteMap<number, PresenceEntry>();
  /** When the last `presence` event for a user arrived (newer than any snapshot fetched before it). */
  private readonly eventAt = new Map<number, number>();

  /** Online people first (by name), then those who left during this session (most recent first). */
  readonly sorted = $derived.by(() => {
    const all = [...this.byId.values()];
    const online = all.filter((u) => u.is_online).sort(byName);
    const offline = all
      .filter((u) => !u.is_online)
      .sort((a, b) => (Date.parse(b.last_seen ?? '') || 0) - (Date.parse(a.last_seen ?? '') || 0) || byName(a, b));
    return [...online, ...offline];
  });

  readonly onlineCount = $derived([...this.byId.values()].filter((u) => u.is_online).length);

  /**
   * Replace the online set with a snapshot requested at `requestedAt`; people missing
   * from it are now offline. Live events newer than the request win over the snapshot.
   */
  seed(list: readonly OnlineUser[], requestedAt = 0): void {
    const fresh = (id: number) => (this.eventAt.get(id) ?? -Infinity) < requestedAt;
    const seen = new Set<number>();
    for (const u of list) {
      if (!u || typeof u.id !== 'number') continue;
      seen.add(u.id);
      if (!fresh(u.id)) continue;
      const prev = this.byId.get(u.id);
      this.byId.set(u.id, {
        user_id: u.id,
        username: u.username,
        display_name: u.display_name || u.username,
        avatar_color: u.avatar_color || prev?.avatar_color || '',
        is_online: true,
        last_seen: prev?.last_seen ?? null,
      });
    }
    for (const [id, u] of this.byId) {
      if (u.is_online && !seen.has(id) && fresh(id)) this.byId.set(id, { ...u, is_online: false });
    }
  }

  apply(p: PresencePayload): void {
    if (!p || typeof p.user_id !== 'number') return;
    this.eventAt.set(p.user_id, Date.now());
    const prev = this.byId.get(p.user_id);
    this.byId.set(p.user_id, {
      user_id: p.user_id,
      username: p.username ?? prev?.username ?? '',
      display_name: p.display_name || prev?.display_name || p.username,
      avatar_color: p.avatar_color || prev?.avatar_color || '',
      is_online: !!p.is_online,
      last_seen: p.last_seen ?? (p.is_online ? prev?.last_seen ?? null : new Date().toISOString()),
    });
  }

  /**
   * What a user object from the Part C routes or `user_updated` says: names, colour,
   * role, and `is_online`/`last_seen` when it carries them (stored, not only live).
   */
  upsert(u: Partial<User> & { id: number }): void {
    if (!u || typeof u.id !== 'number') return;
    const prev = this.byId.get(u.id);
    const liveNewer = (this.eventAt.get(u.id) ?? -Infinity) > Date.now() - 2000;
    this.byId.set(u.id, {
      user_id: u.id,
      username: u.username ?? prev?.username ?? '',
      display_name: u.display_name || prev?.display_name || u.username || '',
      avatar_color: u.avatar_color || prev?.avatar_color || '',
      is_online: typeof u.is_online === 'boolean' && !liveNewer ? u.is_online : (prev?.is_online ?? false),
      last_seen: u.last_seen !== undefined && !liveNewer ? u.last_seen : (prev?.last_seen ?? null),
      role: u.role ?? prev?.role,
      deactivated: u.deactivated ?? prev?.deactivated,
    });
  }

  colorOf(userId: number | null | undefined): string | null {
    if (userId === null || userId === undefined) return null;
    return this.byId.get(userId)?.avatar_color || null;
  }
}
