// The phone layout (390×844): the room drawer and sending a message.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  becomeMember,
  browserTest,
  expectDeliveredOnce,
  openRoom,
  PHONE,
  roomItem,
  saveScreenshot,
  sendAndConfirm,
  sendMessage,
  waitForValue,
  waitUntil,
} from './helpers.js';

describe('phone', () => {
  browserTest('at 390×844 the drawer opens and closes, and messages can be sent', async (h) => {
    const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice', viewport: PHONE, isMobile: true, hasTouch: true });
    const page = alice.page;
    const sidebar = page.getByTestId('sidebar');
    const toggle = page.getByTestId('drawer-toggle');

    // The chat fills the screen; the room list is tucked away behind the toggle.
    await toggle.waitFor({ state: 'visible' });
    assert.equal(await sidebar.isVisible(), false, 'the sidebar is hidden at first');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width, 'no horizontal overflow');

    // Bob is talking in Technology.
    await openRoom(bob.page, 'Technology');
    await sendAndConfirm(bob.page, 'Anyone tried the new phone layout?');
    await becomeMember(page, 'Technology');

    // Open the drawer: rooms and people are there.
    await toggle.tap();
    await waitUntil(() => sidebar.isVisible(), { message: 'the drawer to open' });
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    await roomItem(page, 'Technology').waitFor({ state: 'visible' });
    await waitForValue(() => page.locator(`[data-testid="online-user"][data-username="${bob.username}"]`).getAttribute('data-online'), 'true');
    // Let the slide-in transition finish before the picture.
    await waitUntil(
      () => sidebar.evaluate((el) => getComputedStyle(el).transform === 'none' && el.getBoundingClientRect().left === 0),
      { message: 'the drawer fully in' },
    );
    await saveScreenshot(page, 'phone.png');

    // Choosing a room closes the drawer and opens the room.
    await roomItem(page, 'Technology').tap();
    await waitUntil(async () => !(await sidebar.isVisible()), { message: 'the drawer to close' });
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    await waitForValue(() => page.getByTestId('current-room-name').textContent(), 'Technology');
    await expectDeliveredOnce(page, 'Anyone tried the new phone layout?');

    // Send from the phone: tap the send button.
    await page.getByTestId('composer-input').tap();
    await page.getByTestId('composer-input').fill('Yes, from my phone right now!');
    await page.getByTestId('send-button').tap();
    await expectDeliveredOnce(page, 'Yes, from my phone right now!', { who: 'Alice (phone)' });
    await expectDeliveredOnce(bob.page, 'Yes, from my phone right now!', { who: 'Bob' });
    await sendAndConfirm(bob.page, 'Looks great here too.');
    await expectDeliveredOnce(page, 'Looks great here too.');
    await sendMessage(page, 'Enter works as well.');
    await expectDeliveredOnce(page, 'Enter works as well.');
    await page.getByTestId('composer-input').blur();
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width, 'no horizontal overflow');
    await saveScreenshot(page, 'phone-chat.png');

    // The drawer also closes with its close button, with Escape and by tapping outside.
    await toggle.tap();
    await waitUntil(() => sidebar.isVisible(), { message: 'the drawer to open again' });
    await page.getByRole('button', { name: 'Close room list' }).tap();
    await waitUntil(async () => !(await sidebar.isVisible()), { message: 'the close button to close the drawer' });
    await toggle.tap();
    await waitUntil(() => sidebar.isVisible(), { message: 'the drawer to open again' });
    await page.keyboard.press('Escape');
    await waitUntil(async () => !(await sidebar.isVisible()), { message: 'Escape to close the drawer' });
    await toggle.tap();
    await waitUntil(() => sidebar.isVisible(), { message: 'the drawer to open again' });
    await page.mouse.click(PHONE.width - 20, PHONE.height / 2);
    await waitUntil(async () => !(await sidebar.isVisible()), { message: 'a tap outside to close the drawer' });
    assert.equal(await page.getByTestId('current-room-name').textContent(), 'Technology');
  });
});
