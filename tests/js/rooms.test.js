// Rooms: join_room / user_joined, leave_room / user_left_room,
// create_room / room_created / room_creation_error, and their acks.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';

import { collect, joinRoom, received, roomByName, uniqueName, useServer, waitFor } from './helpers.js';

function assertNotice(p, room, user) {
  assert.equal(p.room_id, room.id);
  assert.equal(p.username, user.username);
  assert.equal(typeof p.display_name, 'string');
  assert.ok(p.display_name.length > 0);
  assert.equal(typeof p.message, 'string');
  assert.ok(p.message.length > 0);
}

describe('rooms', () => {
  const ctx = useServer({ before, after, afterEach });

  test('join_room sends user_joined to everyone in the room, the joiner included', async () => {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const tech = await roomByName(ctx.server, alice.cookie, 'Technology');
    const a = await ctx.server.connect(alice.cookie);
    const b = await ctx.server.connect(bob.cookie);

    const aliceJoined = await joinRoom(a, tech);
    assertNotice(aliceJoined, tech, alice);
    assert.equal(aliceJoined.display_name, a.hello.display_name);

    b.emit('join_room', { room_id: tech.id, room_name: tech.room_name });
    const [seenByA, seenByB] = await Promise.all([
      waitFor(a, 'user_joined', (p) => p.username === bob.username),
      waitFor(b, 'user_joined', (p) => p.username === bob.username),
    ]);
    assertNotice(seenByA, tech, bob);
    assert.deepEqual(seenByA, seenByB);
  });

  test('join_room with an ack answers {ok: true, room_id, room_name}', async () => {
    const alice = await ctx.server.newUser('alice');
    const random = await roomByName(ctx.server, alice.cookie, 'Random');
    const a = await ctx.server.connect(alice.cookie);

    // callback style
    const ack = await new Promise((resolve) => {
      a.emit('join_room', { room_id: random.id, room_name: random.room_name }, resolve);
    });
    assert.deepEqual(ack, { ok: true, room_id: random.id, room_name: 'Random' });
    // the joiner still gets user_joined with an ack
    await waitFor(a, 'user_joined', (p) => p.room_id === random.id && p.username === alice.username);
  });

  test('join_room accepts a room id given as a string of digits', async () => {
    const alice = await ctx.server.newUser('alice');
    const general = await roomByName(ctx.server, alice.cookie, 'General');
    const a = await ctx.server.connect(alice.cookie);
    const ack = await a.emitWithAck('join_room', { room_id: String(general.id), room_name: general.room_name });
    assert.deepEqual(ack, { ok: true, room_id: general.id, room_name: 'General' });
  });

  test('join_room of a room that does not exist: room_not_found in the ack, or in chat_error without one', async () => {
    const alice = await ctx.server.newUser('alice');
    const a = await ctx.server.connect(alice.cookie);
    const ack = await a.emitWithAck('join_room', { room_id: 999999, room_name: 'Nowhere' });
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'room_not_found');
    assert.equal(typeof ack.error.message, 'string');

    a.emit('join_room', { room_id: 999998, room_name: 'Nowhere' });
    const err = await waitFor(a, 'chat_error', (e) => e.event === 'join_room');
    assert.equal(err.code, 'room_not_found');
    assert.equal(typeof err.message, 'string');
  });

  test('leave_room sends user_left_room to the others in the room', async () => {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const general = await roomByName(ctx.server, alice.cookie, 'General');
    const a = await ctx.server.connect(alice.cookie);
    const b = await ctx.server.connect(bob.cookie);
    await joinRoom(a, general);
    await joinRoom(b, general);

    b.emit('leave_room', { room_id: general.id });
    const left = await waitFor(a, 'user_left_room', (p) => p.username === bob.username);
    assertNotice(left, general, bob);
    assert.equal(left.display_name, b.hello.display_name);

    // The leaver is no longer in the room: no user_left_room for itself,
    // and its messages to the room are refused.
    const mine = await collect(b, 'user_left_room', () => true, 300, { includePast: true });
    assert.deepEqual(mine, []);
    const ack = await b.emitWithAck('send_message', { room_id: general.id, message: 'after leaving' });
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'not_in_room');
  });

  test('leave_room with an ack answers {ok: true}', async () => {
    const alice = await ctx.server.newUser('alice');
    const general = await roomByName(ctx.server, alice.cookie, 'General');
    const a = await ctx.server.connect(alice.cookie);
    await joinRoom(a, general);
    const ack = await a.emitWithAck('leave_room', { room_id: general.id });
    assert.equal(ack.ok, true);
  });

  test('create_room sends room_created to every connected client, also those in no room', async () => {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const a = await ctx.server.connect(alice.cookie);
    const b = await ctx.server.connect(bob.cookie); // joined nothing
    const name = `Room ${uniqueName('r')}`.slice(0, 50);

    a.emit('create_room', { room_name: name });
    const [forA, forB] = await Promise.all([
      waitFor(a, 'room_created', (p) => p.room_name === name),
      waitFor(b, 'room_created', (p) => p.room_name === name),
    ]);
    assert.ok(Number.isInteger(forA.room_id) && forA.room_id > 0);
    assert.deepEqual(forB, forA);
    assert.deepEqual(Object.keys(forA).sort(), ['room_id', 'room_name']);

    const listed = await roomByName(ctx.server, bob.cookie, name);
    assert.equal(listed.id, forA.room_id);

    // The new room can be joined and used.
    const ack = await b.emitWithAck('join_room', { room_id: forA.room_id, room_name: name });
    assert.deepEqual(ack, { ok: true, room_id: forA.room_id, room_name: name });
  });

  test('create_room with an ack answers {ok: true, room_id, room_name}', async () => {
    const alice = await ctx.server.newUser('alice');
    const a = await ctx.server.connect(alice.cookie);
    const name = `Acked ${uniqueName('r')}`.slice(0, 50);
    const ack = await a.emitWithAck('create_room', { room_name: name });
    assert.equal(ack.ok, true);
    assert.equal(ack.room_name, name);
    assert.ok(Number.isInteger(ack.room_id) && ack.room_id > 0);
    const created = await waitFor(a, 'room_created', (p) => p.room_name === name);
    assert.equal(created.room_id, ack.room_id);
  });

  test('create_room with a taken name (case-insensitively) sends room_creation_error to the requester only', async () => {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const a = await ctx.server.connect(alice.cookie);
    const b = await ctx.server.connect(bob.cookie);

    a.emit('create_room', { room_name: 'general' });
    const err = await waitFor(a, 'room_creation_error');
    assert.equal(typeof err.error, 'string');
    assert.ok(err.error.length > 0);

    const name = `Dup ${uniqueName('r')}`.slice(0, 50);
    a.emit('create_room', { room_name: name });
    await waitFor(b, 'room_created', (p) => p.room_name === name);
    a.emit('create_room', { room_name: name.toUpperCase() });
    await waitFor(a, 'room_creation_error', (p) => p !== err);

    // Nothing created, nothing told to bob.
    const lateErrors = await collect(b, 'room_creation_error', () => true, 300, { includePast: true });
    assert.deepEqual(lateErrors, []);
    const created = received(b, 'room_created').filter(
      (p) => p.room_name.toLowerCase() === name.toLowerCase() || p.room_name.toLowerCase() === 'general',
    );
    assert.equal(created.length, 1);
    const { body: rooms } = await ctx.server.getJson('/api/rooms', alice.cookie);
    assert.equal(rooms.filter((r) => r.room_name.toLowerCase() === name.toLowerCase()).length, 1);
    assert.equal(rooms.filter((r) => r.room_name.toLowerCase() === 'general').length, 1);
    // No chat_error when there is no ack: room_creation_error is the error event.
  });

  test('create_room with a taken name and an ack: {ok: false, error: {code: room_name_taken}} and room_creation_error', async () => {
    const alice = await ctx.server.newUser('alice');
    const a = await ctx.server.connect(alice.cookie);
    const ack = await a.emitWithAck('create_room', { room_name: 'TECHNOLOGY' });
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'room_name_taken');
    assert.equal(typeof ack.error.message, 'string');
    assert.ok(ack.error.message.length > 0);
    const err = await waitFor(a, 'room_creation_error');
    assert.equal(typeof err.error, 'string');
    // With an ack the error goes in the ack only: no chat_error.
    const chatErrors = await collect(a, 'chat_error', () => true, 300, { includePast: true });
    assert.deepEqual(chatErrors, []);
  });

  test('create_room with an empty or over-long name gets room_creation_error', async () => {
    const alice = await ctx.server.newUser('alice');
    const a = await ctx.server.connect(alice.cookie);
    const empty = await a.emitWithAck('create_room', { room_name: '   ' });
    assert.equal(empty.ok, false);
    assert.equal(empty.error.code, 'room_name_empty');
    const long = await a.emitWithAck('create_room', { room_name: 'x'.repeat(51) });
    assert.equal(long.ok, false);
    assert.equal(long.error.code, 'room_name_too_long');
    await waitFor(a, 'room_creation_error');
    const fifty = await a.emitWithAck('create_room', { room_name: `${uniqueName('r')}${'y'.repeat(50)}`.slice(0, 50) });
    assert.equal(fifty.ok, true);
  });

  ctx.stopsCleanly(test);
});
