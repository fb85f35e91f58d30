// Keyboard, landmarks, touch targets and drafts: what the review found missing
// (skip link, <main>, focus into the phone drawer, 44 px targets, Ctrl/⌘+K,
// Alt+↑/↓, a draft per room that survives a reload, /favicon.ico, the password
// field focused after a wrong password).
import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  browserTest,
  expectCount,
  openRoom,
  PHONE,
  uniqueName,
  waitForChatReady,
  waitForValue,
  waitUntil,
} from './helpers.js';

const activeTestId = (page) => page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.id ?? null);

describe('keyboard and accessibility', () => {
  browserTest('a skip link, one <main>, Ctrl+K and Alt+Down move around; drafts are kept per room across a reload', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
    const page = alice.page;
    await openRoom(page, 'Technology');
    await openRoom(page, 'General');

    assert.equal(await page.locator('main').count(), 1, 'one <main> landmark');
    // The skip link is the first thing Tab reaches (the first focusable element),
    // shows when focused, and leads to the message box.
    const first = await page.evaluate(
      () => document.querySelector('a[href], button, input, textarea, select, [tabindex]')?.textContent?.trim() ?? null,
    );
    assert.equal(first, 'Skip to the message box');
    await page.locator('.skip-link').focus();
    const box = await page.locator('.skip-link').boundingBox();
    assert.ok(box && box.y >= 0, 'the focused skip link is on screen');
    await page.keyboard.press('Enter');
    await waitForValue(() => activeTestId(page), 'composer-input', { message: 'focus in the composer' });

    // A draft per room, kept across a reload.
    await page.getByTestId('composer-input').fill('half-written thought for General');
    await openRoom(page, 'Technology');
    assert.equal(await page.getByTestId('composer-input').inputValue(), '', 'Technology has no draft');
    await page.getByTestId('composer-input').fill('tech draft');
    await page.reload();
    await waitForChatReady(page, alice);
    await waitForValue(() => page.getByTestId('current-room-name').textContent(), 'Technology');
    assert.equal(await page.getByTestId('composer-input').inputValue(), 'tech draft');

    // Alt+Up / Alt+Down: the previous and next room of the sidebar.
    await page.getByTestId('composer-input').focus();
    const order = await page.getByTestId('room-item').evaluateAll((els) => els.map((e) => e.getAttribute('data-room-name')));
    const at = order.indexOf('Technology');
    await page.keyboard.press('Alt+ArrowUp');
    const prev = order[(at - 1 + order.length) % order.length];
    await waitForValue(() => page.getByTestId('current-room-name').textContent(), prev);
    if (prev === 'General') {
      assert.equal(await page.getByTestId('composer-input').inputValue(), 'half-written thought for General');
    }
    await page.keyboard.press('Alt+ArrowDown');
    await waitForValue(() => page.getByTestId('current-room-name').textContent(), 'Technology');

    // Ctrl+K: type a part of a name, Enter opens it.
    await page.keyboard.press('Control+k');
    const input = page.getByTestId('switcher-input');
    await input.waitFor();
    await waitForValue(() => activeTestId(page), 'switcher-input');
    await input.fill('gener');
    await page.keyboard.press('Enter');
    await expectCount(page.getByTestId('quick-switcher'), 0);
    await waitForValue(() => page.getByTestId('current-room-name').textContent(), 'General');
  });

  browserTest('on a phone: the header holds only the room name, targets are 44 px, and the drawer takes focus', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice', viewport: PHONE, isMobile: true, hasTouch: true });
    const page = alice.page;
    // Only the drawer toggle, the name and the details button in the header.
    const buttons = await page.locator('header.topbar button:visible').evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')));
    assert.deepEqual(buttons, ['drawer-toggle', 'room-details-button']);
    for (const id of ['drawer-toggle', 'room-details-button', 'send-button']) {
      const box = await page.getByTestId(id).boundingBox();
      assert.ok(box && box.width >= 44 && box.height >= 44, `${id} is at least 44×44 (${JSON.stringify(box)})`);
    }
    // Opened from the keyboard, the drawer takes focus, and its targets are 44 px too.
    await page.getByTestId('drawer-toggle').focus();
    await page.keyboard.press('Enter');
    await waitUntil(() => page.evaluate(() => !!document.activeElement?.closest('#sidebar')), { message: 'focus in the drawer' });
    const small = await page
      .locator('#sidebar button:visible')
      .evaluateAll((els) => els.map((e) => [e.getAttribute('aria-label') ?? e.textContent?.trim(), e.getBoundingClientRect().height]).filter(([, hgt]) => hgt < 44));
    assert.deepEqual(small, [], 'every button of the drawer is at least 44 px high');
    // The room actions are in the details sheet.
    await page.keyboard.press('Escape');
    await page.getByTestId('room-details-button').tap();
    await page.getByTestId('room-details').waitFor();
    await waitUntil(() => page.evaluate(() => !!document.activeElement?.closest('[data-testid="room-details"]')), { message: 'focus in the sheet' });
  });

  browserTest('/favicon.ico is an icon, and a wrong password puts focus on the password field', async (h) => {
    const { page } = await h.newPage({ label: 'ann' });
    const icon = await page.request.get(`${h.base}/favicon.ico`);
    assert.equal(icon.status(), 200);
    assert.match(icon.headers()['content-type'], /^image\//);

    const username = uniqueName('ann');
    await h.registerThroughForm(page, { username });
    // Away from the chat page first: its socket, closed by the logout, would send it to /login meanwhile.
    await page.goto('about:blank');
    await page.goto(`${h.base}/logout`);
    const bad = await h.loginThroughForm(page, { username, password: 'not the password' });
    assert.equal(bad.status(), 401);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
    assert.equal(await page.locator('#username').inputValue(), username);
  });
});
