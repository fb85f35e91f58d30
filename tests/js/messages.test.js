// Messages: send_message / new_message, its ack, history over HTTP, and
// idempotent sends with client_id.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';

import { collect, isIsoTimestamp, joinRoom, received, roomByName, useServer, waitFor } from './helpers.js';

const MESSAGE_FIELDS = [
  'avatar_color',
  'display_name',
  'id',
  'message',
  'message_type',
  'room_id',
  'timestamp',
  'user_id',
  'username',
];

function assertMessageShape(m) {
  for (const field of MESSAGE_FIELDS) assert.ok(field in m, `new_message has ${field}: ${JSON.stringify(m)}`);
  assert.ok(Number.isInteger(m.id) && m.id > 0);
  assert.ok(Number.isInteger(m.room_id) && m.room_id > 0);
  assert.ok(Number.isInteger(m.user_id) && m.user_id > 0);
  assert.equal(typeof m.username, 'string');
  assert.equal(typeof m.display_name, 'string');
  assert.equal(typeof m.avatar_color, 'string');
  assert.ok(m.avatar_color.length > 0);
  assert.equal(typeof m.message, 'string');
  assert.ok(isIsoTimestamp(m.timestamp), `timestamp is ISO 8601 UTC: ${m.timestamp}`);
}

describe('messages', () => {
  const ctx = useServer({ before, after, afterEach });

  /** alice and bob in a room, carol connected but in no room. */
  async function threeUsers(roomName) {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const carol = await ctx.server.newUser('carol');
    const room = await roomByName(ctx.server, alice.cookie, roomName);
    const a = await ctx.server.connect(alice.cookie);
    const b = await ctx.server.connect(bob.cookie);
    const c = await ctx.server.connect(carol.cookie);
    await joinRoom(a, room);
    await joinRoom(b, room);
    return { alice, bob, carol, room, a, b, c };
  }

  test('send_message sends new_message with every field to everyone in the room, the sender included', async () => {
    const { alice, room, a, b } = await threeUsers('General');
    a.emit('send_message', { room_id: room.id, message: 'Hello, Parley!' });
    const [forA, forB] = await Promise.all([
      waitFor(a, 'new_message', (m) => m.message === 'Hello, Parley!'),
      waitFor(b, 'new_message', (m) => m.message === 'Hello, Parley!'),
    ]);
    assertMessageShape(forA);
    assert.deepEqual(forB, forA);
    assert.equal(forA.room_id, room.id);
    assert.equal(forA.user_id, alice.user.id);
    assert.equal(forA.username, alice.username);
    assert.equal(forA.display_name, a.hello.display_name);
    assert.equal(forA.message_type, 'text');
    assert.ok(!('client_id' in forA), 'no client_id echoed when none was sent');
    assert.ok(Math.abs(Date.parse(forA.timestamp) - Date.now()) < 60_000, 'timestamp is now');
  });

  test('send_message with an ack answers {ok: true, id, timestamp} matching the new_message', async () => {
    const { room, a, b } = await threeUsers('Technology');
    const ack = await a.emitWithAck('send_message', { room_id: room.id, message: 'acked message' });
    assert.equal(ack.ok, true);
    assert.ok(Number.isInteger(ack.id) && ack.id > 0);
    assert.ok(isIsoTimestamp(ack.timestamp), `ack timestamp is ISO 8601: ${ack.timestamp}`);
    const [forA, forB] = await Promise.all([
      waitFor(a, 'new_message', (m) => m.id === ack.id),
      waitFor(b, 'new_message', (m) => m.id === ack.id),
    ]);
    assert.equal(forA.timestamp, ack.timestamp);
    assert.equal(forB.message, 'acked message');

    // Acked means stored: the message is in the history right away.
    const { status, body } = await ctx.server.getJson(`/api/messages/${room.id}`, b.io.opts.extraHeaders.Cookie);
    assert.equal(status, 200);
    const stored = body.find((m) => m.id === ack.id);
    assert.ok(stored, 'acked message is in GET /api/messages');
    assert.deepEqual(stored, forA);
  });

  test('a user who has not joined the room gets no new_message', async () => {
    const { room, a, b, c } = await threeUsers('Random');
    const ack = await a.emitWithAck('send_message', { room_id: room.id, message: 'members only' });
    assert.equal(ack.ok, true);
    await waitFor(b, 'new_message', (m) => m.id === ack.id);
    const leaked = await collect(c, 'new_message', () => true, 300, { includePast: true });
    assert.deepEqual(leaked, []);
  });

  test('GET /api/messages/<room_id> lists the room\'s messages oldest first', async () => {
    const alice = await ctx.server.newUser('alice');
    const a = await ctx.server.connect(alice.cookie);
    const created = await a.emitWithAck('create_room', { room_name: `History ${alice.username}`.slice(0, 50) });
    assert.equal(created.ok, true);
    const room = { id: created.room_id, room_name: created.room_name };
    await joinRoom(a, room);

    const ids = [];
    for (let i = 1; i <= 5; i += 1) {
      const ack = await a.emitWithAck('send_message', { room_id: room.id, message: `number ${i}` });
      assert.equal(ack.ok, true);
      ids.push(ack.id);
    }
    const { status, body } = await ctx.server.getJson(`/api/messages/${room.id}`, alice.cookie);
    assert.equal(status, 200);
    const texts = body.filter((m) => m.message_type === 'text');
    assert.deepEqual(texts.map((m) => m.id), ids);
    assert.deepEqual(texts.map((m) => m.message), ['number 1', 'number 2', 'number 3', 'number 4', 'number 5']);
    for (const m of body) assertMessageShape(m);
    for (let i = 1; i < body.length; i += 1) assert.ok(body[i - 1].id < body[i].id, 'ascending ids');

    const unknown = await ctx.server.getJson('/api/messages/987654', alice.cookie);
    assert.equal(unknown.status, 404);
    const anonymous = await ctx.server.getJson(`/api/messages/${room.id}`);
    assert.equal(anonymous.status, 401);
  });

  test('a message is trimmed, and 4000 characters are accepted', async () => {
    const { room, a, b } = await threeUsers('General');
    const padded = await a.emitWithAck('send_message', { room_id: room.id, message: '   spaced out   ' });
    assert.equal(padded.ok, true);
    const seen = await waitFor(b, 'new_message', (m) => m.id === padded.id);
    assert.equal(seen.message, 'spaced out');

    const max = 'é'.repeat(4000); // 4000 Unicode scalar values, 8000 UTF-8 bytes
    const big = await a.emitWithAck('send_message', { room_id: room.id, message: max });
    assert.equal(big.ok, true, JSON.stringify(big));
    const bigSeen = await waitFor(b, 'new_message', (m) => m.id === big.id);
    assert.equal(bigSeen.message, max);
  });

  test('client_id: a retry acks the same id, is stored once and broadcast once, and is echoed', async () => {
    const { room, a, b } = await threeUsers('Technology');
    const clientId = `retry-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const payload = { room_id: room.id, message: 'exactly once', client_id: clientId };

    const first = await a.emitWithAck('send_message', payload);
    assert.equal(first.ok, true);
    const second = await a.emitWithAck('send_message', payload);
    assert.equal(second.ok, true);
    assert.equal(second.id, first.id);

    const echoed = await waitFor(b, 'new_message', (m) => m.id === first.id);
    assert.equal(echoed.client_id, clientId);
    const own = await waitFor(a, 'new_message', (m) => m.id === first.id);
    assert.equal(own.client_id, clientId);

    // A third send, without an ack, still does not broadcast again.
    a.emit('send_message', payload);
    const marker = await a.emitWithAck('send_message', { room_id: room.id, message: 'marker after retries' });
    assert.equal(marker.ok, true);
    await waitFor(b, 'new_message', (m) => m.id === marker.id);
    await collect(b, 'new_message', () => true, 300);
    assert.equal(received(b, 'new_message').filter((m) => m.client_id === clientId).length, 1);
    assert.equal(received(b, 'new_message').filter((m) => m.message === 'exactly once').length, 1);

    const { body } = await ctx.server.getJson(`/api/messages/${room.id}`, b.io.opts.extraHeaders.Cookie);
    assert.equal(body.filter((m) => m.message === 'exactly once').length, 1);
  });

  test('client_id is per user: another user may use the same client_id', async () => {
    const { room, a, b } = await threeUsers('Random');
    const clientId = `shared-${Math.random().toString(36).slice(2)}`;
    const fromA = await a.emitWithAck('send_message', { room_id: room.id, message: 'from a', client_id: clientId });
    const fromB = await b.emitWithAck('send_message', { room_id: room.id, message: 'from b', client_id: clientId });
    assert.equal(fromA.ok, true);
    assert.equal(fromB.ok, true);
    assert.notEqual(fromA.id, fromB.id);
  });

  ctx.stopsCleanly(test);
});
