// Unsent composer text per room, kept across room switches and reloads.
// localStorage holds one entry per room ("parley.draft.<room id>"); the memory map
// keeps the composer fast and works when storage is unavailable (private mode).
const PREFIX = 'parley.draft.';
const memory = new Map<number, string>();

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export const drafts = {
  get(roomId: number): string | undefined {
    const m = memory.get(roomId);
    if (m !== undefined) return m;
    try {
      return storage()?.getItem(PREFIX + roomId) ?? undefined;
    } catch {
      return undefined;
    }
  },
  set(roomId: number, text: string): void {
    if (!text) return this.delete(roomId);
    memory.set(roomId, text);
    try {
      storage()?.setItem(PREFIX + roomId, text);
    } catch {
      /* quota or private mode: memory only */
    }
  },
  delete(roomId: number): void {
    memory.delete(roomId);
    try {
      storage()?.removeItem(PREFIX + roomId);
    } catch {
      /* ignore */
    }
  },
};
