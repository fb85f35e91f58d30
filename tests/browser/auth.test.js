// Registration and login through the server's real forms, then the chat page.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import { browserTest, expectCount, PASSWORD, roomItem, uniqueName, waitForChatReady, waitForValue } from './helpers.js';

describe('accounts', () => {
  browserTest('register straight into the chat page, log out and in again; a wrong password shows the error with 401', async (h) => {
    const { context, page } = await h.newPage({ label: 'ann' });
    const username = uniqueName('ann');

    // Unauthenticated: / sends the browser to the login form.
    await page.goto(`${h.base}/`);
    assert.equal(new URL(page.url()).pathname, '/login');

    const reg = await h.registerThroughForm(page, { username, displayName: 'Ann Example' });
    assert.equal(reg.status(), 302, 'POST /register answers 302');
    // Registering signs the new person in and opens General (docs/protocol.md, Part C).
    assert.equal(new URL(page.url()).pathname, '/', 'registration leads into the chat, signed in');
    await waitForChatReady(page, { username });
    await waitForValue(() => page.getByTestId('current-room-name').textContent(), 'General');
    // Away from the chat page first: its socket, closed by the logout, would send it to /login meanwhile.
    await page.goto('about:blank');
    await page.goto(`${h.base}/logout`);
    assert.equal(new URL(page.url()).pathname, '/login', 'logging out leads to the login form');

    // Registering the same name again: the form comes back with a specific error.
    const again = await h.registerThroughForm(page, { username, email: `other-${username}@example.test` });
    assert.equal(again.status(), 409);
    assert.equal(new URL(page.url()).pathname, '/register');
    assert.match(await page.getByTestId('form-error').textContent(), /username is already taken/i);

    // A wrong password: the form again, 401, the error text visible, no session.
    const bad = await h.loginThroughForm(page, { username, password: 'not the password' });
    assert.equal(bad.status(), 401, 'POST /login with a wrong password answers 401');
    assert.equal(new URL(page.url()).pathname, '/login');
    const error = page.getByTestId('form-error');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.textContent(), /invalid username or password/i);
    assert.equal(await page.locator('#username').inputValue(), username, 'the username is kept in the form');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'password', 'focus is on the password field');
    assert.equal((await context.cookies()).filter((c) => c.name === 'parley_session').length, 0, 'no session cookie');

    // The right password: 302 to / and the chat page with the default rooms.
    const good = await h.loginThroughForm(page, { username, password: PASSWORD });
    assert.equal(good.status(), 302);
    await page.waitForURL(`${h.base}/`);
    await waitForChatReady(page, { username, displayName: 'Ann Example' });
    // The default rooms: General in the sidebar (a new account is a member of it); the
    // others in the sidebar too (Part A) or in the room browser (Part C membership).
    await roomItem(page, 'General').waitFor({ state: 'visible' });
    const listed = await page.getByTestId('room-item').evaluateAll((els) => els.map((e) => e.getAttribute('data-room-name')));
    if ((await page.getByTestId('browse-rooms-button').count()) > 0) {
      await page.getByTestId('browse-rooms-button').click();
      const browsable = page.getByTestId('browse-room');
      await browsable.first().waitFor();
      listed.push(...(await browsable.evaluateAll((els) => els.map((e) => e.getAttribute('data-room-name')))));
      await page.keyboard.press('Escape');
      await expectCount(page.getByTestId('room-browser'), 0);
    }
    assert.deepEqual(listed.sort(), ['General', 'Random', 'Technology']);
    // The default room is open.
    await waitForValue(() => page.getByTestId('current-room-name').textContent(), 'General');
    assert.equal(await roomItem(page, 'General').getAttribute('aria-current'), 'page');
    assert.equal(await page.getByTestId('form-error').count(), 0);
  });
});
