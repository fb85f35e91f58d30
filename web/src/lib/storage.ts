const LAST_ROOM_KEY = 'parley.lastRoomId';

export function loadLastRoomId(): number | null {
  try {
    const v = localStorage.getItem(LAST_ROOM_KEY);
    const n = v === null ? NaN : Number(v);
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

export function saveLastRoomId(id: number | null): void {
  try {
    if (id === null) localStorage.removeItem(LAST_ROOM_KEY);
    else localStorage.setItem(LAST_ROOM_KEY, String(id));
  } catch {
    /* storage unavailable (private mode): ignore */
  }
}
