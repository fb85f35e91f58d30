// Team conversations (docs/protocol.md Part C) as people use them in the browser:
// private rooms, direct messages, invites, profile changes and lasting membership.
// The first account of each test's fresh server is its admin.
import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  browserTest,
  expectCount,
  expectDeliveredOnce,
  leaveCurrentRoom,
  openRoom,
  roomItem,
  saveScreenshot,
  sendAndConfirm,
  uniqueName,
  waitForChatReady,
  waitForValue,
  waitUntil,
} from './helpers.js';

/** Picks a person by username in the dialog's person picker. */
async function pickPerson(dialog, username) {
  await dialog.getByTestId('person-search').fill(username);
  await dialog.locator(`[data-testid="person-option"][data-username="${username}"]`).click();
  await dialog.locator(`[data-testid="picked-person"][data-username="${username}"]`).waitFor();
}

async function openUserMenuItem(page, testid) {
  await page.getByTestId('user-menu').click();
  await page.getByTestId(testid).click();
}

describe('team conversations', () => {
  browserTest('a private room with a chosen member appears live for them, and for nobody else', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
    const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });
    const carol = await h.newUser({ prefix: 'carol', displayName: 'Carol' });

    await alice.page.getByTestId('create-room-button').click();
    const dialog = alice.page.getByTestId('create-room-dialog');
    await dialog.getByTestId('create-room-input').fill('launch-plans');
    await dialog.getByTestId('create-room-private').check();
    await pickPerson(dialog, bob.username);
    await dialog.getByTestId('create-room-submit').click();
    await expectCount(dialog, 0);
    await waitForValue(() => alice.page.getByTestId('current-room-name').textContent(), 'launch-plans');
    assert.equal(await roomItem(alice.page, 'launch-plans').getAttribute('data-room-type'), 'private');

    // Bob sees it appear without a reload, and can talk in it at once.
    await roomItem(bob.page, 'launch-plans').waitFor({ state: 'visible' });
    await openRoom(bob.page, 'launch-plans');
    await sendAndConfirm(bob.page, 'Thanks for adding me');
    await expectDeliveredOnce(alice.page, 'Thanks for adding me');

    // The online panel is the room's members: Alice and Bob, not Carol.
    const members = alice.page.getByTestId('online-user');
    await waitUntil(async () => (await members.count()) === 2, { message: 'two members listed' });
    assert.equal(await alice.page.locator(`[data-testid="online-user"][data-username="${carol.username}"]`).count(), 0);

    // Carol: not in her sidebar, not in her room browser, even after a reload.
    await carol.page.reload();
    await waitForChatReady(carol.page, carol);
    await expectCount(roomItem(carol.page, 'launch-plans'), 0);
    await carol.page.getByTestId('browse-rooms-button').click();
    await expectCount(carol.page.locator('[data-testid="browse-room"][data-room-name="launch-plans"]'), 0);
    await saveScreenshot(alice.page, 'teams-private-room.png');
  });

  browserTest('a direct message started from the directory reaches the other person, named after them', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
    const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });

    await openUserMenuItem(alice.page, 'open-directory');
    const directory = alice.page.getByTestId('directory');
    await directory.getByTestId('directory-search').fill('bob');
    const row = directory.locator(`[data-testid="directory-user"][data-username="${bob.username}"]`);
    await waitForValue(() => row.getAttribute('data-online'), 'true', { message: 'Bob online in the directory' });
    await row.getByTestId('directory-message').click();
    await expectCount(directory, 0);
    await waitForValue(() => alice.page.getByTestId('current-room-name').textContent(), 'Bob');
    await sendAndConfirm(alice.page, 'Got a minute?');

    // Bob: the conversation appears named "Alice", with the message in it.
    const dm = bob.page.locator('[data-testid="dm-item"][data-label="Alice"]');
    await dm.waitFor({ state: 'visible' });
    await dm.click();
    await expectDeliveredOnce(bob.page, 'Got a minute?');

    // Starting it again from the directory lands in the same conversation.
    await openUserMenuItem(bob.page, 'open-directory');
    await bob.page
      .locator(`[data-testid="directory-user"][data-username="${alice.username}"]`)
      .getByTestId('directory-message')
      .click();
    await expectCount(bob.page.getByTestId('dm-item'), 1);
    await expectDeliveredOnce(bob.page, 'Got a minute?');
    await saveScreenshot(bob.page, 'teams-direct.png');
  });

  browserTest('the admin makes registration invite-only; a new person registers through an invite link', async (h) => {
    const admin = await h.newUser({ prefix: 'admin', displayName: 'Admin' });
    await openUserMenuItem(admin.page, 'open-admin');
    const page = admin.page.getByTestId('admin-page');
    await page.getByTestId('registration-invite_only').check();
    await waitUntil(() => page.getByTestId('registration-invite_only').isChecked(), { message: 'invite_only set' });
    await page.getByTestId('create-invite').click();
    const link = await (async () => {
      const input = page.getByTestId('invite-link');
      await input.waitFor();
      return input.inputValue();
    })();
    assert.match(link, /\/register\?invite=[A-Za-z0-9_-]{22}$/);
    await expectCount(page.getByTestId('invite-row'), 1);

    // Without the invite: refused.
    const { page: stranger } = await h.newPage({ label: 'stranger' });
    const refused = await h.registerThroughForm(stranger, { username: uniqueName('stranger') });
    assert.equal(refused.status(), 403);

    // With it: signed in straight away, General open.
    const { page: newcomer } = await h.newPage({ label: 'newcomer' });
    const username = uniqueName('newcomer');
    await newcomer.goto(link);
    await newcomer.locator('#username').fill(username);
    await newcomer.locator('#email').fill(`${username}@example.test`);
    await newcomer.locator('#password').fill('correct horse battery staple');
    await newcomer.getByRole('button', { name: 'Create account' }).click();
    await newcomer.waitForURL(`${h.base}/`);
    await waitForChatReady(newcomer, { username });
    await waitForValue(() => newcomer.getByTestId('current-room-name').textContent(), 'General');
  });

  browserTest('a new display name shows in another person\'s window without a reload', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
    const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });
    await sendAndConfirm(alice.page, 'Hello from Alice');
    const author = bob.page.locator('[data-testid="message"]', { hasText: 'Hello from Alice' }).locator('.author');
    await waitForValue(() => author.first().textContent(), 'Alice');

    await openUserMenuItem(alice.page, 'open-account');
    const settings = alice.page.getByTestId('account-settings');
    await settings.getByTestId('account-display-name').fill('Alice Liddell');
    await settings.getByTestId('account-save').click();
    await settings.getByText('Saved.').waitFor();

    await waitForValue(() => author.first().textContent(), 'Alice Liddell', { message: 'the new name in Bob\'s window' });
    const listed = bob.page.locator(`[data-testid="online-user"][data-username="${alice.username}"] .name bdi`).first();
    await waitForValue(() => listed.textContent(), 'Alice Liddell');
  });

  browserTest('leaving a room asks first, says so, and stays left after a reload', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
    await openRoom(alice.page, 'Random');
    await leaveCurrentRoom(alice.page);
    await waitForValue(() => alice.page.getByTestId('notice').textContent(), 'You left #Random.');
    await expectCount(roomItem(alice.page, 'Random'), 0);
    await waitForValue(() => alice.page.getByTestId('current-room-name').textContent(), 'General');

    await alice.page.reload();
    await waitForChatReady(alice.page, alice);
    await expectCount(roomItem(alice.page, 'Random'), 0);
    // It is still there to join again.
    await alice.page.getByTestId('browse-rooms-button').click();
    await alice.page.locator('[data-testid="browse-room"][data-room-name="Random"]').waitFor();
  });
});
