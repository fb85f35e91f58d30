// Presence: the online dot of another user follows their pages.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import { browserTest, onlineUser, staysTrue, waitForChatReady, waitUntil } from './helpers.js';

/** "true" / "false" / null (not listed) for `username` in `page`'s online list. */
async function onlineState(page, username) {
  const entry = onlineUser(page, username);
  if ((await entry.count()) === 0) return null;
  return entry.getAttribute('data-online');
}

describe('presence', () => {
  browserTest('the presence dot turns on when the other user logs in and off when their pages close', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
    await waitUntil(async () => (await onlineState(alice.page, alice.username)) === 'true', {
      message: 'Alice to see herself online',
    });

    const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });
    await waitUntil(async () => (await onlineState(alice.page, bob.username)) === 'true', {
      message: 'Bob online in Alice\'s list',
    });
    const dot = onlineUser(alice.page, bob.username);
    assert.equal(await dot.locator('.dot.on').count(), 1, 'the green dot is shown');

    // A second tab of Bob: closing one of two keeps him online.
    const bobTab = await h.newTab(bob);
    await bob.page.close();
    await staysTrue(
      async () => (await onlineState(alice.page, bob.username)) === 'true',
      1000,
      'Bob online while one of his tabs is open',
    );

    // Closing the last one: he goes offline in Alice's list (off, or gone).
    await bobTab.close();
    await waitUntil(async () => (await onlineState(alice.page, bob.username)) !== 'true', {
      message: 'Bob offline in Alice\'s list',
    });
    const state = await onlineState(alice.page, bob.username);
    assert.ok(state === 'false' || state === null, `Bob is off or not listed: ${state}`);
    if (state === 'false') assert.equal(await dot.locator('.dot.on').count(), 0, 'the dot is off');
    assert.equal(await onlineState(alice.page, alice.username), 'true');

    // He comes back: on again.
    const bobAgain = await h.newTab(bob);
    await waitUntil(async () => (await onlineState(alice.page, bob.username)) === 'true', {
      message: 'Bob online again in Alice\'s list',
    });
    assert.equal(await onlineState(bobAgain, alice.username), 'true', 'Bob sees Alice online');
  });

  // A page reload closes one connection as the same user's next one opens;
  // the server once announced the old one's "offline" after the new one's
  // "online", and everyone saw a connected user as offline.
  browserTest(
    'after page reloads the user is still shown online, to others and to themselves',
    {},
    async (h) => {
      const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
      const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });
      for (let round = 1; round <= 6; round++) {
        await bob.page.reload();
        await waitForChatReady(bob.page, bob);
        // Settle: both presence changes of the reload have arrived by now (the
        // page asks for presence_batch, sent at most 100 ms after a change).
        await bob.page.waitForTimeout(600);
        const seenByAlice = await onlineState(alice.page, bob.username);
        const seenByBob = await onlineState(bob.page, bob.username);
        assert.deepEqual(
          { seenByAlice, seenByBob },
          { seenByAlice: 'true', seenByBob: 'true' },
          `reload ${round}: Bob is connected, so he must be shown online`,
        );
      }
    },
  );

  // A restart of a single server: who was online stays online in the others'
  // lists while they come back; who does not come back goes offline when the
  // grace ends.
  browserTest(
    'across a server restart the others stay shown online, and who does not come back goes offline after the grace',
    { env: { PARLEY_RESTART_GRACE_MS: '10000' } },
    async (h) => {
      const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
      const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });
      await waitUntil(async () => (await onlineState(alice.page, bob.username)) === 'true', {
        message: 'Bob online in Alice\'s list',
      });

      h.note('restarting the server; Bob\'s browser stays offline');
      const info = await h.server.stop();
      assert.deepEqual(info, { code: 0, signal: null }, `clean exit; output:\n${h.server.log()}`);
      await bob.context.setOffline(true);
      await h.server.start();
      await waitUntil(async () => (await alice.page.getByTestId('connection-banner').count()) === 0, {
        timeout: 30_000,
        message: 'Alice reconnected',
      });
      // Alice's page asked for the online list again on reconnecting: Bob is in it.
      await staysTrue(
        async () => (await onlineState(alice.page, bob.username)) === 'true',
        1000,
        'Bob shown online while the grace lasts',
      );

      await waitUntil(async () => (await onlineState(alice.page, bob.username)) !== 'true', {
        timeout: 20_000,
        message: 'Bob shown offline once the grace has ended',
      });

      // Back online, Bob's page reconnects and he is announced as anyone is.
      await bob.context.setOffline(false);
      await waitUntil(async () => (await onlineState(alice.page, bob.username)) === 'true', {
        timeout: 30_000,
        message: 'Bob online again in Alice\'s list',
      });
    },
  );
});
