// Outgoing typing notifications: `is_typing:true` at most every THROTTLE_MS while
// the user types, `false` on send, blur, room switch and after IDLE_MS of quiet.

export const TYPING_THROTTLE_MS = 2000;
export const TYPING_IDLE_MS = 3000;

export class TypingEmitter {
  private roomId: number | null = null;
  private lastSent = 0;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly emit: (roomId: number, isTyping: boolean) => void) {}

  /** Call on every edit of the composer. */
  input(roomId: number, hasText: boolean): void {
    if (this.roomId !== null && this.roomId !== roomId) this.stop();
    if (!hasText) {
      this.stop();
      return;
    }
    const now = Date.now();
    if (this.roomId === null || now - this.lastSent >= TYPING_THROTTLE_MS) {
      this.roomId = roomId;
      this.lastSent = now;
      this.emit(roomId, true);
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(), TYPING_IDLE_MS);
  }

  stop(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.roomId !== null) {
      const room = this.roomId;
      this.roomId = null;
      this.lastSent = 0;
      this.emit(room, false);
    }
  }

  /** Forget state without emitting (the connection is gone anyway). */
  reset(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.roomId = null;
    this.lastSent = 0;
  }
}

/** "Ann is typing…", "Ann and Bo are typing…", "Several people are typing…". */
export function typingText(names: readonly string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}
