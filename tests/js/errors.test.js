// Part B errors: chat_error without an ack, {ok: false, error} with one,
// and the socket keeps working after bad input.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';

import { collect, joinRoom, received, roomByName, useServer, waitFor } from './helpers.js';

function assertChatError(e, event, code) {
  assert.equal(e.event, event);
  assert.equal(e.code, code);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
}

describe('errors', () => {
  const ctx = useServer({ before, after, afterEach });

  async function member(roomName = 'General') {
    const alice = await ctx.server.newUser('alice');
    const room = await roomByName(ctx.server, alice.cookie, roomName);
    const a = await ctx.server.connect(alice.cookie);
    return { alice, room, a };
  }

  /** The socket still works: it can join and send, and hears its message. */
  async function stillWorks(socket, room) {
    await joinRoom(socket, room);
    const text = `still alive ${Math.random()}`;
    const ack = await socket.emitWithAck('send_message', { room_id: room.id, message: text });
    assert.equal(ack.ok, true);
    await waitFor(socket, 'new_message', (m) => m.id === ack.id && m.message === text);
    assert.equal(socket.connected, true);
  }

  test('send_message to a room not joined: chat_error not_in_room, and nothing is stored', async () => {
    const { alice, room, a } = await member('General');
    a.emit('send_message', { room_id: room.id, message: 'sneaky' });
    const err = await waitFor(a, 'chat_error');
    assertChatError(err, 'send_message', 'not_in_room');
    const { body } = await ctx.server.getJson(`/api/messages/${room.id}`, alice.cookie);
    assert.equal(body.filter((m) => m.message === 'sneaky').length, 0);
    await stillWorks(a, room);
  });

  test('send_message with an ack to a room not joined: {ok: false, error: {code: not_in_room}} and no chat_error', async () => {
    const { room, a } = await member('Technology');
    const ack = await a.emitWithAck('send_message', { room_id: room.id, message: 'sneaky' });
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'not_in_room');
    assert.equal(typeof ack.error.message, 'string');
    const errors = await collect(a, 'chat_error', () => true, 300, { includePast: true });
    assert.deepEqual(errors, []);
  });

  test('a message of 4001 characters: chat_error message_too_long, nothing stored or broadcast', async () => {
    const { alice, room, a } = await member('Random');
    await joinRoom(a, room);
    const tooLong = 'x'.repeat(4001);
    a.emit('send_message', { room_id: room.id, message: tooLong });
    const err = await waitFor(a, 'chat_error');
    assertChatError(err, 'send_message', 'message_too_long');
    const ack = await a.emitWithAck('send_message', { room_id: room.id, message: tooLong });
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'message_too_long');
    const { body } = await ctx.server.getJson(`/api/messages/${room.id}`, alice.cookie);
    assert.equal(body.filter((m) => m.message.startsWith('xxxx')).length, 0, 'never a truncated store');
    const broadcast = await collect(a, 'new_message', (m) => m.message.startsWith('xxxx'), 0, { includePast: true });
    assert.deepEqual(broadcast, []);
    await stillWorks(a, room);
  });

  test('an empty (whitespace only) message: message_empty', async () => {
    const { room, a } = await member('General');
    await joinRoom(a, room);
    const ack = await a.emitWithAck('send_message', { room_id: room.id, message: '  \n\t ' });
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'message_empty');
  });

  test('malformed payloads: chat_error invalid_payload, and the socket keeps working', async () => {
    const { room, a } = await member('General');

    a.emit('send_message', 'not an object');
    const first = await waitFor(a, 'chat_error', (e) => e.event === 'send_message');
    assertChatError(first, 'send_message', 'invalid_payload');

    a.emit('send_message', { room_id: room.id }); // no message
    a.emit('join_room', { room_id: 'abc', room_name: 'General' });
    a.emit('typing', { room_id: room.id, is_typing: 'yes' });
    a.emit('create_room', 42);
    a.emit('leave_room'); // no payload at all
    const codes = await Promise.all(
      ['join_room', 'typing', 'create_room', 'leave_room'].map((event) =>
        waitFor(a, 'chat_error', (e) => e.event === event),
      ),
    );
    for (const e of codes) assert.equal(e.code, 'invalid_payload', JSON.stringify(e));
    const sendErrors = () => received(a, 'chat_error').filter((e) => e.event === 'send_message');
    await waitFor(a, 'chat_error', () => sendErrors().length >= 2);
    assert.equal(sendErrors()[1].code, 'invalid_payload');
    await stillWorks(a, room);
  });

  test('malformed payload with an ack: {ok: false, error: {code: invalid_payload}}', async () => {
    const { a } = await member('General');
    const ack = await a.emitWithAck('send_message', 'not an object');
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'invalid_payload');
    const ack2 = await a.emitWithAck('join_room', { room_name: 'General' });
    assert.equal(ack2.ok, false);
    assert.equal(ack2.error.code, 'invalid_payload');
  });

  test('an unknown event: chat_error unknown_event naming it, and the socket keeps working', async () => {
    const { room, a } = await member('Technology');
    a.emit('launch_rockets', { now: true });
    const err = await waitFor(a, 'chat_error');
    assertChatError(err, 'launch_rockets', 'unknown_event');
    assert.match(err.message, /launch_rockets/);

    const ack = await a.emitWithAck('no_such_event', {});
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'unknown_event');
    await stillWorks(a, room);
  });

  test('bad input from one user never disturbs another user in the room', async () => {
    const { room, a } = await member('Random');
    const bob = await ctx.server.newUser('bob');
    const b = await ctx.server.connect(bob.cookie);
    await joinRoom(a, room);
    await joinRoom(b, room);
    a.emit('send_message', 'junk');
    a.emit('send_message', { room_id: room.id, message: 'y'.repeat(5000) });
    a.emit('bogus_event');
    a.emit('send_message', { room_id: room.id, message: 42 });
    const ack = await b.emitWithAck('send_message', { room_id: room.id, message: 'bob is fine' });
    assert.equal(ack.ok, true);
    await waitFor(a, 'new_message', (m) => m.id === ack.id);
    const bobErrors = await collect(b, 'chat_error', () => true, 300, { includePast: true });
    assert.deepEqual(bobErrors, []);
    assert.equal(b.connected, true);
    assert.equal(a.connected, true);
  });

  ctx.stopsCleanly(test);
});
