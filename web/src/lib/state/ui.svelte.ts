// View-only state shared by components.

class UiState {
  /** Mobile drawer (sidebar) open. Ignored on wide screens. */
  drawerOpen = $state(false);
  /** Ticks every 30 s so relative times ("last seen 3 minutes ago") refresh. */
  now = $state(Date.now());
  /** Incremented to ask the composer to take focus (e.g. after picking a room in the drawer). */
  composerFocusRequest = $state(0);

  constructor() {
    setInterval(() => (this.now = Date.now()), 30_000);
  }

  openDrawer() {
    this.drawerOpen = true;
  }

  closeDrawer() {
    this.drawerOpen = false;
  }

  requestComposerFocus() {
    this.composerFocusRequest++;
  }
}

export const ui = new UiState();
