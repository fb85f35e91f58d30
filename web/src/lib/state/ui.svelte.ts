// View-only state shared by components.

export type Sheet =
  | 'room-details'
  | 'browse-rooms'
  | 'create-room'
  | 'directory'
  | 'account'
  | 'admin'
  | 'switcher'
  | 'confirm-leave';

class UiState {
  /** Mobile drawer (sidebar) open. Ignored on wide screens. */
  drawerOpen = $state(false);
  /** Ticks every 30 s so relative times ("last seen 3 minutes ago") refresh. */
  now = $state(Date.now());
  /** Incremented to ask the composer to take focus (e.g. after picking a room in the drawer). */
  composerFocusRequest = $state(0);
  /** A short status line ("You left #random."), shown in a live region until replaced. */
  notice = $state<{ id: number; text: string } | null>(null);
  /** Which sheet or dialog is open (one at a time). */
  sheet = $state<Sheet | null>(null);
  private noticeTimer: ReturnType<typeof setTimeout> | null = null;

  constructor() {
    setInterval(() => (this.now = Date.now()), 30_000);
  }

  openDrawer() {
    this.drawerOpen = true;
  }

  closeDrawer() {
    this.drawerOpen = false;
  }

  notify(text: string) {
    this.notice = { id: (this.notice?.id ?? 0) + 1, text };
    if (this.noticeTimer) clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => (this.notice = null), 6000);
  }

  open(sheet: Sheet) {
    this.sheet = sheet;
  }

  closeSheet() {
    this.sheet = null;
  }

  requestComposerFocus() {
    this.composerFocusRequest++;
  }
}

export const ui = new UiState();
