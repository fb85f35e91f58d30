export const MAX_MESSAGE_CHARS = 4000;
export const MAX_ROOM_NAME_CHARS = 50;

/** Length in Unicode scalar values, as the server counts. */
export function charCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** A v4 UUID; crypto.randomUUID needs a secure context, getRandomValues does not. */
export function newClientId(): string {
  if (typeof crypto.randomUUID === 'function' && window.isSecureContext) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Whether a display name is not simply its username (case aside): then the
 * client shows `@username` beside it, as display names are not unique.
 */
export function differsFromUsername(displayName: string, username: string): boolean {
  return displayName.toLowerCase() !== username.toLowerCase();
}

export function initialOf(name: string): string {
  const first = name.trim().match(/\p{L}|\p{N}/u)?.[0] ?? name.trim()[0] ?? '?';
  return first.toLocaleUpperCase();
}
