// Presence (Part B) and logout: presence events, /api/online-users, and a
// logout that closes the user's live sockets.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';

import { collect, isIsoTimestamp, joinRoom, received, roomByName, useServer, waitFor } from './helpers.js';

const PRESENCE_FIELDS = ['avatar_color', 'display_name', 'is_online', 'last_seen', 'user_id', 'username'];

describe('presence', () => {
  const ctx = useServer({ before, after, afterEach });

  test('a user coming online and going offline sends presence to every connected client', async () => {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const a = await ctx.server.connect(alice.cookie);

    const b = await ctx.server.connect(bob.cookie);
    const online = await waitFor(a, 'presence', (p) => p.user_id === bob.user.id && p.is_online === true);
    assert.deepEqual(Object.keys(online).sort(), PRESENCE_FIELDS);
    assert.equal(online.username, bob.username);
    assert.equal(online.display_name, b.hello.display_name);
    assert.equal(typeof online.avatar_color, 'string');
    assert.ok(online.avatar_color.length > 0);
    assert.ok(online.last_seen === null || isIsoTimestamp(online.last_seen), `last_seen: ${online.last_seen}`);

    const before = Date.now();
    b.disconnect();
    const offline = await waitFor(a, 'presence', (p) => p.user_id === bob.user.id && p.is_online === false);
    assert.deepEqual(Object.keys(offline).sort(), PRESENCE_FIELDS);
    assert.equal(offline.username, bob.username);
    assert.equal(offline.avatar_color, online.avatar_color);
    assert.ok(isIsoTimestamp(offline.last_seen), `last_seen is an ISO string: ${offline.last_seen}`);
    assert.ok(Math.abs(Date.parse(offline.last_seen) - before) < 60_000, 'last_seen is about now');
  });

  test('GET /api/online-users lists the users online, and not those gone offline', async () => {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const a = await ctx.server.connect(alice.cookie);
    const b = await ctx.server.connect(bob.cookie);
    await waitFor(a, 'presence', (p) => p.user_id === bob.user.id && p.is_online === true);

    const { status, body } = await ctx.server.getJson('/api/online-users', alice.cookie);
    assert.equal(status, 200);
    assert.ok(Array.isArray(body));
    const ids = body.map((u) => u.id);
    assert.ok(ids.includes(alice.user.id), 'alice listed');
    assert.ok(ids.includes(bob.user.id), 'bob listed');
    const listedBob = body.find((u) => u.id === bob.user.id);
    assert.equal(listedBob.username, bob.username);
    assert.equal(typeof listedBob.display_name, 'string');
    assert.equal(typeof listedBob.avatar_color, 'string');

    const anonymous = await ctx.server.getJson('/api/online-users');
    assert.equal(anonymous.status, 401);

    b.disconnect();
    await waitFor(a, 'presence', (p) => p.user_id === bob.user.id && p.is_online === false);
    const later = await ctx.server.getJson('/api/online-users', alice.cookie);
    assert.equal(later.status, 200);
    assert.ok(!later.body.some((u) => u.id === bob.user.id), 'bob no longer listed');
    assert.ok(later.body.some((u) => u.id === alice.user.id), 'alice still listed');
  });

  test('GET /api/online-users/<room_id> lists the online users in that room', async () => {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const room = await roomByName(ctx.server, alice.cookie, 'Technology');
    const a = await ctx.server.connect(alice.cookie);
    await ctx.server.connect(bob.cookie); // online, but in no room
    await joinRoom(a, room);
    const { status, body } = await ctx.server.getJson(`/api/online-users/${room.id}`, alice.cookie);
    assert.equal(status, 200);
    const ids = body.map((u) => u.id);
    assert.ok(ids.includes(alice.user.id));
    assert.ok(!ids.includes(bob.user.id));
  });

  test('a user stays online while any of their sockets is connected', async () => {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const a = await ctx.server.connect(alice.cookie);
    const tab1 = await ctx.server.connect(bob.cookie);
    const tab2 = await ctx.server.connect(bob.cookie);
    await waitFor(a, 'presence', (p) => p.user_id === bob.user.id && p.is_online === true);

    tab1.disconnect();
    const early = await collect(a, 'presence', (p) => p.user_id === bob.user.id && p.is_online === false, 300);
    assert.deepEqual(early, [], 'no offline while a second tab is open');
    const { body } = await ctx.server.getJson('/api/online-users', alice.cookie);
    assert.ok(body.some((u) => u.id === bob.user.id));

    tab2.disconnect();
    const offline = await waitFor(a, 'presence', (p) => p.user_id === bob.user.id && p.is_online === false);
    assert.ok(isIsoTimestamp(offline.last_seen));
  });

  test('GET /logout ends the session: the live socket is disconnected and the old cookie is refused', async () => {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const general = await roomByName(ctx.server, alice.cookie, 'General');
    const a = await ctx.server.connect(alice.cookie);
    const b = await ctx.server.connect(bob.cookie);
    await joinRoom(a, general);
    await joinRoom(b, general);

    const disconnected = new Promise((resolve) => b.once('disconnect', resolve));
    const res = await ctx.server.fetch('/logout', { headers: { Cookie: bob.cookie }, redirect: 'manual' });
    await res.arrayBuffer();
    assert.equal(res.status, 302);
    assert.match(res.headers.get('location') ?? '', /\/login$/);

    const reason = await Promise.race([
      disconnected,
      new Promise((_, reject) => setTimeout(() => reject(new Error('socket not disconnected within 5 s of logout')), 5000).unref()),
    ]);
    assert.equal(typeof reason, 'string');
    assert.equal(b.connected, false);
    await waitFor(a, 'presence', (p) => p.user_id === bob.user.id && p.is_online === false);

    // The old cookie no longer opens a socket, nor the API.
    const again = ctx.server.rawSocket(bob.cookie);
    const err = await new Promise((resolve, reject) => {
      again.once('connect_error', resolve);
      again.once('connect', () => reject(new Error('reconnected with a logged-out cookie')));
    });
    assert.match(err.message, /not logged in/i);
    const api = await ctx.server.getJson('/api/rooms', bob.cookie);
    assert.equal(api.status, 401);

    // Alice is untouched.
    assert.equal(a.connected, true);
    const ack = await a.emitWithAck('send_message', { room_id: general.id, message: 'still here' });
    assert.equal(ack.ok, true);
  });

  test('logging out one session leaves the same user\'s other sessions connected', async () => {
    const alice = await ctx.server.newUser('alice');
    const second = await ctx.server.login(alice.username, alice.password);
    const s1 = await ctx.server.connect(alice.cookie);
    const s2 = await ctx.server.connect(second.cookie);
    const disconnected = new Promise((resolve) => s1.once('disconnect', resolve));
    const res = await ctx.server.fetch('/logout', { headers: { Cookie: alice.cookie }, redirect: 'manual' });
    await res.arrayBuffer();
    assert.equal(res.status, 302);
    await disconnected;
    await collect(s2, 'presence', () => true, 300);
    assert.equal(s2.connected, true);
    const ack = await s2.emitWithAck('create_room', { room_name: `Alive ${alice.username}`.slice(0, 50) });
    assert.equal(ack.ok, true);
  });

  for (const transports of [['websocket'], null]) {
    test(`a client with the presence_batch capability hears coalesced batches instead of presence (${transports ? 'websocket' : 'polling first'})`, async () => {
      const alice = await ctx.server.newUser('alice');
      const bob = await ctx.server.newUser('bob');
      const carol = await ctx.server.newUser('carol');
      const a = await ctx.server.connect(alice.cookie, { auth: { capabilities: ['presence_batch'] }, transports });
      const c = await ctx.server.connect(carol.cookie);

      const b = await ctx.server.connect(bob.cookie);
      b.disconnect();
      // Without the capability: each change, as it happens.
      await waitFor(c, 'presence', (p) => p.user_id === bob.user.id && p.is_online === true);
      await waitFor(c, 'presence', (p) => p.user_id === bob.user.id && p.is_online === false);
      // With it: batches, each naming a user once with their latest presence.
      const isBob = (p) => p.user_id === bob.user.id;
      await waitFor(a, 'presence_batch', (x) => x.users.some((p) => isBob(p) && p.is_online === false));
      const batches = received(a, 'presence_batch');
      for (const batch of batches) {
        assert.ok(Array.isArray(batch.users), 'users is an array');
        const ids = batch.users.map((p) => p.user_id);
        assert.equal(new Set(ids).size, ids.length, 'each user once per batch');
        for (const p of batch.users) assert.deepEqual(Object.keys(p).sort(), PRESENCE_FIELDS);
      }
      const bobLast = batches.flatMap((x) => x.users).filter(isBob).at(-1);
      assert.equal(bobLast.is_online, false);
      assert.ok(isIsoTimestamp(bobLast.last_seen), `last_seen: ${bobLast.last_seen}`);
      assert.deepEqual(await collect(a, 'presence', () => true, 300, { includePast: true }), [], 'no single presence events');
    });
  }

  ctx.stopsCleanly(test);
});
