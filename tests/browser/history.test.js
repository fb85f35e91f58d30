// History: after a reload the conversation is there, in order; scrolling up
// loads older pages until the beginning of the room.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  browserTest,
  emitAck,
  expectDeliveredOnce,
  messageRows,
  sendAndConfirm,
  sessionCookie,
  waitForChatReady,
  waitUntil,
} from './helpers.js';

const SEEDED = 130;
const label = (i) => `seed message ${String(i).padStart(3, '0')}`;

describe('history', () => {
  browserTest(
    'after a reload the history is there in order; scrolling up loads older messages',
    // The seeding below sends faster than the default per-user rate limit allows.
    { env: { PARLEY_MESSAGE_RATE: '1000', PARLEY_MESSAGE_BURST: '1000' } },
    async (h) => {
      const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
      const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });

      // Seed the room over Socket.IO with Bob's browser session.
      const socket = await h.server.socket(await sessionCookie(bob.context));
      try {
        const rooms = await h.server.getJson('/api/rooms', await sessionCookie(bob.context));
        const general = rooms.body.find((r) => r.room_name === 'General');
        const joined = await emitAck(socket, 'join_room', { room_id: general.id, room_name: general.room_name });
        assert.equal(joined.ok, true, JSON.stringify(joined));
        for (let i = 1; i <= SEEDED; i++) {
          const ack = await emitAck(socket, 'send_message', { room_id: general.id, message: label(i) });
          assert.equal(ack.ok, true, `seed ${i}: ${JSON.stringify(ack)}`);
        }
      } finally {
        socket.disconnect();
      }
      // Alice's open page got them live.
      await expectDeliveredOnce(alice.page, label(SEEDED), { who: 'Alice' });
      await sendAndConfirm(alice.page, 'That was a lot of messages, Bob.');
      await sendAndConfirm(alice.page, 'Scroll up to see them all.');
      const expected = [
        ...Array.from({ length: SEEDED }, (_, i) => label(i + 1)),
        'That was a lot of messages, Bob.',
        'Scroll up to see them all.',
      ];

      // Reload: the latest 100 are there, in order, acknowledged, once each.
      await alice.page.reload();
      await waitForChatReady(alice.page, alice);
      const list = alice.page.getByTestId('message-list');
      await waitUntil(async () => (await messageRows(alice.page)).length >= 100, { message: '100 rows after reload' });
      let rows = await messageRows(alice.page);
      assert.deepEqual(
        rows.map((r) => r.text),
        expected.slice(-100),
        'the last 100 messages, oldest first',
      );
      assert.ok(rows.every((r) => r.id && !r.pending), 'all acknowledged');
      const ids = rows.map((r) => Number(r.id));
      assert.deepEqual([...ids].sort((a, b) => a - b), ids, 'ids ascending');
      assert.equal(rows.at(-1).own, true);
      assert.equal(rows[0].own, false);
      // The view starts at the bottom (the latest message is in view).
      await waitUntil(
        () => list.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 80),
        { message: 'the message list scrolled to the bottom' },
      );
      assert.equal(await alice.page.getByText('This is the beginning of #General.').count(), 0);

      // Scroll up with the mouse wheel: the older page is fetched (?before=<oldest id>).
      const olderRequests = [];
      alice.page.on('request', (r) => {
        if (/\/api\/messages\/\d+\?.*before=/.test(r.url())) olderRequests.push(r.url());
      });
      const box = await list.boundingBox();
      await alice.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await alice.page.mouse.wheel(0, -100_000);
      await waitUntil(async () => (await messageRows(alice.page)).length === expected.length, {
        message: `${expected.length} rows after scrolling up`,
      });
      assert.match(olderRequests[0] ?? '', new RegExp(`before=${ids[0]}(&|$)`), 'asked for messages before the oldest');
      // The reader keeps their place: the message that was at the top is still in view.
      const firstBefore = alice.page
        .getByTestId('message')
        .filter({ has: alice.page.getByTestId('message-text').getByText(label(SEEDED - 100 + 3), { exact: true }) });
      await waitUntil(
        async () => {
          const r = await firstBefore.boundingBox();
          const l = await list.boundingBox();
          return r && r.y >= l.y - 1 && r.y + r.height <= l.y + l.height + 1;
        },
        { message: `"${label(SEEDED - 100 + 3)}" still in view after the older page came in` },
      );

      // Further up: the beginning of the room (an empty page ends the scroll-back).
      await waitUntil(
        async () => {
          await alice.page.mouse.wheel(0, -100_000);
          return (await alice.page.getByText('This is the beginning of #General.').count()) === 1;
        },
        { interval: 200, message: 'the beginning of #General after scrolling up' },
      );
      rows = await messageRows(alice.page);
      assert.deepEqual(rows.map((r) => r.text), expected, 'every message once, in order, after scrolling back');
      assert.equal(new Set(rows.map((r) => r.id)).size, rows.length, 'no duplicate ids');
      assert.equal(rows[0].text, label(1));
    },
  );
});
