// Losing the connection: the banner, automatic reconnection without a reload,
// catch-up of what was missed, and messages sent while disconnected.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  browserTest,
  emitAck,
  expectDeliveredOnce,
  messageRows,
  openRoom,
  rowsWithText,
  sendAndConfirm,
  sendMessage,
  sessionCookie,
  waitForValue,
  waitUntil,
} from './helpers.js';

/**
 * Generous: Socket.IO's reconnection back-off is up to 4 s, and a rejoin the
 * server leaves unanswered is asked again only after the client's 10 s ack timeout.
 */
const RECONNECT_MS = 30_000;

async function markNoReload(page) {
  await page.evaluate(() => {
    window.__parleyNoReload = 'still the same document';
  });
}

async function assertNotReloaded(page, who) {
  assert.equal(
    await page.evaluate(() => window.__parleyNoReload),
    'still the same document',
    `${who}'s page was not reloaded`,
  );
}

async function bannerGone(page, who) {
  await waitUntil(async () => (await page.getByTestId('connection-banner').count()) === 0, {
    timeout: RECONNECT_MS,
    message: `${who}'s connection banner to go away (reconnected)`,
  });
}

describe('reconnect', () => {
  browserTest('after a server restart the pages reconnect by themselves and get every message exactly once', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
    const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });
    await sendAndConfirm(alice.page, 'Before the restart');
    await expectDeliveredOnce(bob.page, 'Before the restart');
    await markNoReload(alice.page);
    await markNoReload(bob.page);

    // The server goes away (SIGTERM: a clean shutdown while the browsers are connected).
    h.note('stopping the server');
    const info = await h.server.stop();
    h.note('server stopped');
    assert.deepEqual(info, { code: 0, signal: null }, `clean exit with browsers connected; output:\n${h.server.log()}`);
    for (const [who, page] of [['Alice', alice.page], ['Bob', bob.page]]) {
      const banner = page.getByTestId('connection-banner');
      await banner.waitFor({ state: 'visible', timeout: 10_000 });
      assert.match(await banner.textContent(), /Reconnecting/, `${who}'s banner says it reconnects`);
    }

    // Alice writes while disconnected: it waits, pending, and the banner says so.
    const offline = 'Typed while the server was down';
    await sendMessage(alice.page, offline);
    await waitUntil(async () => {
      const rows = await rowsWithText(alice.page, offline);
      return rows.length === 1 && rows[0].pending && rows[0].id === null;
    }, { message: 'the offline message shown as pending' });
    await waitUntil(
      async () => /1 unsent message will be sent/.test(await alice.page.getByTestId('connection-banner').textContent()),
      { message: 'the banner to mention the unsent message' },
    );

    // The server comes back on the same port and database.
    h.note('starting the server');
    await h.server.start();
    h.note('server started');
    // Bob talks right away over Socket.IO with his (still valid) browser session,
    // whether or not the pages have reconnected yet.
    const bobCookie = await sessionCookie(bob.context);
    const socket = await h.server.socket(bobCookie);
    const early = ['Right after the restart 1', 'Right after the restart 2'];
    try {
      const general = (await h.server.getJson('/api/rooms', bobCookie)).body.find((r) => r.room_name === 'General');
      assert.equal((await emitAck(socket, 'join_room', { room_id: general.id, room_name: 'General' })).ok, true);
      for (const message of early) {
        const ack = await emitAck(socket, 'send_message', { room_id: general.id, message });
        assert.equal(ack.ok, true, JSON.stringify(ack));
      }
    } finally {
      socket.disconnect();
    }

    await bannerGone(alice.page, 'Alice');
    await bannerGone(bob.page, 'Bob');
    // Alice's queued message went out once, with the same client id (stored once).
    const sent = await expectDeliveredOnce(alice.page, offline, { who: 'Alice', timeout: RECONNECT_MS });
    const received = await expectDeliveredOnce(bob.page, offline, { who: 'Bob', timeout: RECONNECT_MS });
    assert.equal(received.id, sent.id);
    for (const message of early) await expectDeliveredOnce(alice.page, message, { who: 'Alice', timeout: RECONNECT_MS });

    // Bob, reconnected, sends from his page: it arrives live in Alice's page.
    const live = ['After the reconnect 1', 'After the reconnect 2', 'After the reconnect 3'];
    for (const message of live) {
      await sendMessage(bob.page, message);
      await expectDeliveredOnce(bob.page, message, { who: 'Bob', timeout: RECONNECT_MS });
      await expectDeliveredOnce(alice.page, message, { who: 'Alice' });
    }

    // Nothing doubled, nothing lost, ordered by id, and no reload happened.
    const all = ['Before the restart', offline, ...early, ...live];
    for (const [who, page] of [['Alice', alice.page], ['Bob', bob.page]]) {
      const rows = (await messageRows(page)).filter((r) => r.text !== null);
      for (const text of all) {
        assert.equal(rows.filter((r) => r.text === text).length, 1, `${who}: "${text}" once`);
      }
      const ids = rows.map((r) => Number(r.id));
      assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]), `${who}: rows ordered by id ${ids}`);
      await assertNotReloaded(page, who);
    }
    // The server stored each message once.
    const general = (await h.server.getJson('/api/rooms', bobCookie)).body.find((r) => r.room_name === 'General');
    const stored = (await h.server.getJson(`/api/messages/${general.id}`, bobCookie)).body.map((m) => m.message);
    for (const text of all) assert.equal(stored.filter((m) => m === text).length, 1, `stored once: "${text}"`);
  });

  browserTest('a page that was offline catches up on what it missed, and sends what was typed meanwhile', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
    const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });
    await sendAndConfirm(bob.page, 'Hi Alice');
    await expectDeliveredOnce(alice.page, 'Hi Alice');
    await markNoReload(alice.page);
    const catchUp = [];
    alice.page.on('request', (r) => {
      if (/\/api\/messages\/\d+\?.*after=/.test(r.url())) catchUp.push(r.url());
    });

    // Alice's browser loses the network (the socket drops; reconnecting fails).
    h.note('Alice offline');
    await alice.context.setOffline(true);
    await alice.page.getByTestId('connection-banner').waitFor({ state: 'visible' });
    const missed = ['While you were away 1', 'While you were away 2', 'While you were away 3'];
    for (const message of missed) await sendAndConfirm(bob.page, message);
    await sendMessage(alice.page, 'Sent from the tunnel');
    await waitForValue(async () => (await rowsWithText(alice.page, 'Sent from the tunnel')).map((r) => r.pending), [true]);
    for (const message of missed) assert.deepEqual(await rowsWithText(alice.page, message), []);

    // Back online: reconnect, fetch what was missed (?after=), then send the queued message.
    h.note('Alice online');
    await alice.context.setOffline(false);
    await bannerGone(alice.page, 'Alice');
    for (const message of missed) await expectDeliveredOnce(alice.page, message, { who: 'Alice', timeout: RECONNECT_MS });
    await expectDeliveredOnce(alice.page, 'Sent from the tunnel', { who: 'Alice', timeout: RECONNECT_MS });
    await expectDeliveredOnce(bob.page, 'Sent from the tunnel', { who: 'Bob', timeout: RECONNECT_MS });
    assert.ok(catchUp.length >= 1, 'the page asked for the messages after the last one it had');

    const texts = (await messageRows(alice.page)).map((r) => r.text);
    assert.deepEqual(texts, ['Hi Alice', ...missed, 'Sent from the tunnel']);
    await assertNotReloaded(alice.page, 'Alice');
  });

  browserTest('a room join the server leaves unanswered is asked again, and the queued message still goes out', { timeout: 120_000 }, async (h) => {
    // Once armed, the first join_room Alice's page sends never reaches the server
    // (as when the server drops an event), over the polling transport or the
    // WebSocket, whichever carries it.
    let armed = false;
    const dropped = [];
    const isJoin = (packet) => /^42\d*\["join_room"/.test(packet);
    const dropThis = (packet) => armed && dropped.length === 0 && isJoin(packet) && dropped.push(packet) > 0;
    const intercept = async (context) => {
      await context.route(/\/socket\.io\/\?.*transport=polling/, async (route) => {
        const req = route.request();
        const body = req.postData();
        if (req.method() !== 'POST' || !body) return route.continue();
        const packets = body.split('\x1e');
        const kept = packets.filter((p) => !dropThis(p));
        if (kept.length === packets.length) return route.continue();
        h.note(`dropped (polling) ${dropped[0]}`);
        if (kept.length === 0) return route.fulfill({ status: 200, contentType: 'text/html', body: 'ok' });
        return route.continue({ postData: kept.join('\x1e') });
      });
      await context.routeWebSocket(/\/socket\.io\//, (ws) => {
        const server = ws.connectToServer();
        ws.onMessage((message) => {
          if (typeof message === 'string' && dropThis(message)) {
            h.note(`dropped (websocket) ${message}`);
            return;
          }
          server.send(message);
        });
      });
    };
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice', beforeLogin: intercept });
    const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });
    await sendAndConfirm(bob.page, 'Hi Alice');
    await expectDeliveredOnce(alice.page, 'Hi Alice');

    if ((await alice.page.getByTestId('browse-rooms-button').count()) > 0) {
      // Part C: a membership socket sends no join_room at a reconnect; the join that
      // can get lost is joining a public room from the room browser.
      await openRoom(bob.page, 'Technology');
      armed = true;
      await openRoom(alice.page, 'Technology');
      assert.equal(dropped.length, 1, 'the first join_room was dropped');
      await sendAndConfirm(alice.page, 'Did my join get lost?');
      await expectDeliveredOnce(bob.page, 'Did my join get lost?', { who: 'Bob' });
      await sendAndConfirm(bob.page, 'It arrived.');
      await expectDeliveredOnce(alice.page, 'It arrived.', { who: 'Alice' });
      assert.equal(await alice.page.getByTestId('form-error').count(), 0, 'no join error shown');
      return;
    }

    h.note('Alice offline');
    await alice.context.setOffline(true);
    await alice.page.getByTestId('connection-banner').waitFor({ state: 'visible' });
    await sendMessage(alice.page, 'Did my join get lost?');
    armed = true;
    h.note('Alice online');
    await alice.context.setOffline(false);
    await bannerGone(alice.page, 'Alice');
    await waitUntil(() => dropped.length === 1, { message: 'the rejoin to be dropped' });
    const [row] = await rowsWithText(alice.page, 'Did my join get lost?');
    assert.equal(row?.pending, true, 'not sent while the room is not joined');

    // The client asks again after its ack timeout; then the room works again.
    await expectDeliveredOnce(alice.page, 'Did my join get lost?', { who: 'Alice', timeout: RECONNECT_MS });
    await expectDeliveredOnce(bob.page, 'Did my join get lost?', { who: 'Bob' });
    await sendAndConfirm(bob.page, 'It arrived.');
    await expectDeliveredOnce(alice.page, 'It arrived.', { who: 'Alice' });
    assert.equal(dropped.length, 1);
    assert.equal(await alice.page.getByText("Couldn't join").count(), 0, 'no join error shown');
  });
});
