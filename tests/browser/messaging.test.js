// Sending and receiving messages in real time between two browsers.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  browserTest,
  expectDeliveredOnce,
  messageRows,
  onlineUser,
  rowsWithText,
  saveScreenshot,
  sendAndConfirm,
  sendMessage,
  staysTrue,
  waitForChatReady,
  waitUntil,
} from './helpers.js';

/**
 * Records, from now on, every state a row showing `text` goes through
 * (data-pending / data-message-id), so a short-lived pending state is seen too.
 */
async function recordRowStates(page, text) {
  await page.evaluate((wanted) => {
    const states = [];
    window.__rowStates = states;
    const snapshot = () => {
      for (const row of document.querySelectorAll('[data-testid="message"]')) {
        if (row.querySelector('[data-testid="message-text"]')?.textContent !== wanted) continue;
        const s = { pending: row.getAttribute('data-pending'), id: row.getAttribute('data-message-id') };
        const last = states[states.length - 1];
        if (!last || last.pending !== s.pending || last.id !== s.id) states.push(s);
      }
    };
    new MutationObserver(snapshot).observe(document.body, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
      attributeFilter: ['data-pending', 'data-message-id'],
    });
  }, text);
  return () => page.evaluate(() => window.__rowStates);
}

describe('messages', () => {
  browserTest('a message appears once in real time for the other user, and once (pending, then acked) for the sender', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
    const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });
    // Both see each other online (the sidebar of the desktop layout).
    await waitUntil(async () => (await onlineUser(alice.page, bob.username).getAttribute('data-online')) === 'true', {
      message: 'Bob online in Alice\'s list',
    });

    const text = 'Hello Bob, can you read this?';
    const states = await recordRowStates(alice.page, text);
    await sendMessage(alice.page, text);

    // The sender: one row, first pending without an id, then acknowledged with an id.
    const own = await expectDeliveredOnce(alice.page, text, { who: 'Alice' });
    assert.ok(/^\d+$/.test(own.id), `data-message-id is a positive integer: ${own.id}`);
    assert.equal(own.own, true);
    assert.equal(own.username, alice.username);
    const seen = await states();
    assert.deepEqual(seen[0], { pending: 'true', id: null }, `first shown as pending: ${JSON.stringify(seen)}`);
    assert.deepEqual(seen[seen.length - 1], { pending: null, id: own.id }, `finally acked: ${JSON.stringify(seen)}`);
    assert.equal(await alice.page.getByTestId('composer-input').inputValue(), '', 'the composer is cleared');

    // The other user: exactly one row, with the same id, not marked as own.
    const other = await expectDeliveredOnce(bob.page, text, { who: 'Bob' });
    assert.equal(other.id, own.id);
    assert.equal(other.own, false);
    assert.equal(other.username, alice.username);

    // A short conversation; every message exactly once on both sides, same order.
    const lines = [
      [bob, 'Loud and clear, Alice.'],
      [alice, 'Great, the new server works.'],
      [bob, 'Messages show up instantly — très bien.'],
      [alice, 'Let us ship it then.'],
    ];
    for (const [who, line] of lines) {
      await sendAndConfirm(who.page, line);
      await expectDeliveredOnce((who === alice ? bob : alice).page, line);
    }
    const expected = [text, ...lines.map(([, l]) => l)];
    for (const who of [alice, bob]) {
      const rows = (await messageRows(who.page)).filter((r) => expected.includes(r.text));
      assert.deepEqual(rows.map((r) => r.text), expected, `${who.displayName} sees the conversation in order`);
      assert.ok(rows.every((r) => r.id && !r.pending));
    }
    await saveScreenshot(alice.page, 'desktop.png');
  });

  browserTest('markup in a message is shown as text and never runs', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
    const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });
    // Any dialog fails the test (the harness records page.on('dialog')); also make it explicit here.
    const dialogs = [];
    for (const p of [alice.page, bob.page]) p.on('dialog', (d) => dialogs.push(d.message()));

    const payloads = [
      '<img src=x onerror=alert(1)>',
      '<script>alert(2)</script>',
      '<a href="javascript:alert(3)">click</a> &amp; <b>bold</b>',
    ];
    for (const text of payloads) {
      await sendMessage(alice.page, text);
      await expectDeliveredOnce(alice.page, text, { who: 'Alice' });
      await expectDeliveredOnce(bob.page, text, { who: 'Bob' });
    }
    for (const page of [alice.page, bob.page]) {
      const texts = await page.getByTestId('message-text').allTextContents();
      for (const text of payloads) assert.ok(texts.includes(text), `"${text}" shown verbatim`);
      const list = page.getByTestId('message-list');
      assert.equal(await list.locator('img, script, b').count(), 0, 'no element made from the message');
      assert.equal(await list.locator('a[href^="javascript:"]').count(), 0, 'no javascript: link');
    }
    // Reloading renders the same messages from history, still as text.
    await bob.page.reload();
    await waitForChatReady(bob.page, bob);
    for (const text of payloads) await expectDeliveredOnce(bob.page, text, { who: 'Bob after reload' });
    assert.equal(await bob.page.getByTestId('message-list').locator('img, script, b').count(), 0);
    await staysTrue(() => dialogs.length === 0, 500, 'no dialog');
    assert.deepEqual(dialogs, []);
    assert.equal(await alice.page.evaluate(() => document.querySelectorAll('img[src="x"]').length), 0);
    assert.deepEqual(await rowsWithText(alice.page, 'alert(1)'), []);
  });
});
