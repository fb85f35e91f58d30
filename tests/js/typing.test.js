// Typing indicators: typing → user_typing to the others, and expiry after
// PARLEY_TYPING_TTL_MS when no is_typing:false follows.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';

import { TYPING_TTL_MS, collect, joinRoom, roomByName, useServer, waitFor } from './helpers.js';

describe('typing', () => {
  const ctx = useServer({ before, after, afterEach });

  async function pair(roomName) {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const carol = await ctx.server.newUser('carol');
    const room = await roomByName(ctx.server, alice.cookie, roomName);
    const a = await ctx.server.connect(alice.cookie);
    const b = await ctx.server.connect(bob.cookie);
    const c = await ctx.server.connect(carol.cookie); // in no room
    await joinRoom(a, room);
    await joinRoom(b, room);
    return { alice, bob, room, a, b, c };
  }

  test('typing is_typing:true sends user_typing to the others in the room, not to the sender', async () => {
    const { alice, room, a, b, c } = await pair('General');
    a.emit('typing', { room_id: room.id, is_typing: true });
    const seen = await waitFor(b, 'user_typing', (p) => p.username === alice.username && p.is_typing === true);
    assert.deepEqual(seen, {
      room_id: room.id,
      username: alice.username,
      display_name: a.hello.display_name,
      is_typing: true,
    });
    const own = await collect(a, 'user_typing', () => true, 300, { includePast: true });
    assert.deepEqual(own.filter((p) => p.is_typing === true), [], 'the sender does not hear its own typing');
    const outsider = await collect(c, 'user_typing', () => true, 0, { includePast: true });
    assert.deepEqual(outsider, [], 'a user in no room hears no typing');
  });

  test('typing is_typing:false sends user_typing is_typing:false to the others', async () => {
    const { alice, room, a, b } = await pair('Technology');
    const ackOn = await a.emitWithAck('typing', { room_id: room.id, is_typing: true });
    assert.equal(ackOn.ok, true);
    await waitFor(b, 'user_typing', (p) => p.username === alice.username && p.is_typing === true);
    const ackOff = await a.emitWithAck('typing', { room_id: room.id, is_typing: false });
    assert.equal(ackOff.ok, true);
    const off = await waitFor(b, 'user_typing', (p) => p.username === alice.username && p.is_typing === false);
    assert.equal(off.room_id, room.id);
  });

  test('a typing:true never cleared expires: the others get is_typing:false after the TTL', async () => {
    const { alice, room, a, b } = await pair('Random');
    a.emit('typing', { room_id: room.id, is_typing: true });
    await waitFor(b, 'user_typing', (p) => p.username === alice.username && p.is_typing === true);
    const onAt = Date.now();
    const off = await waitFor(
      b,
      'user_typing',
      (p) => p.username === alice.username && p.is_typing === false,
      TYPING_TTL_MS + 3000,
    );
    const elapsed = Date.now() - onAt;
    assert.equal(off.room_id, room.id);
    assert.equal(off.display_name, a.hello.display_name);
    assert.ok(elapsed >= TYPING_TTL_MS - 150, `expired after ${elapsed} ms, not before ~${TYPING_TTL_MS} ms`);
    assert.ok(elapsed <= TYPING_TTL_MS + 2000, `expired after ${elapsed} ms, ~${TYPING_TTL_MS} ms expected`);
    // exactly one expiry
    const more = await collect(b, 'user_typing', (p) => p.username === alice.username, 300);
    assert.deepEqual(more, []);
  });

  test('typing in a room not joined is refused with chat_error not_in_room', async () => {
    const { room, c } = await pair('General');
    c.emit('typing', { room_id: room.id, is_typing: true });
    const err = await waitFor(c, 'chat_error', (e) => e.event === 'typing');
    assert.equal(err.code, 'not_in_room');
    assert.equal(typeof err.message, 'string');
  });

  ctx.stopsCleanly(test);
});
