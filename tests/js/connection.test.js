// Connecting: authentication by the session cookie, connection_success, and
// both transports of the official client (websocket only; polling then upgrade).

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';

import { joinRoom, roomByName, startServer, useServer, waitFor } from './helpers.js';

describe('connection', () => {
  const ctx = useServer({ before, after, afterEach });

  test('connecting without a session cookie gives connect_error saying not logged in', async () => {
    const socket = ctx.server.rawSocket(null);
    const err = await new Promise((resolve, reject) => {
      socket.once('connect_error', resolve);
      socket.once('connect', () => reject(new Error('connected without a cookie')));
    });
    assert.match(err.message, /not logged in/i);
    assert.equal(socket.connected, false);
  });

  // The server refuses these handshakes before any Engine.IO session exists
  // (docs/security.md, finding 3); the client must still see a Socket.IO
  // refusal, which it does not retry, on either transport.
  for (const transports of [['polling'], ['websocket'], null]) {
    test(`a refused handshake (${transports ?? 'default transports'}) gives connect_error and no reconnection`, async () => {
      const socket = ctx.server.rawSocket(null, { transports, reconnection: true });
      let attempts = 0;
      socket.io.on('reconnect_attempt', () => attempts++);
      const err = await new Promise((resolve, reject) => {
        socket.once('connect_error', resolve);
        socket.once('connect', () => reject(new Error('connected without a cookie')));
      });
      assert.match(err.message, /not logged in/i);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(attempts, 0, 'the client retried a refusal');
      assert.equal(socket.active, false);
    });
  }

  test('connecting with an unknown session token gives connect_error', async () => {
    const socket = ctx.server.rawSocket('parley_session=not-a-real-token');
    const err = await new Promise((resolve, reject) => {
      socket.once('connect_error', resolve);
      socket.once('connect', () => reject(new Error('connected with a bogus cookie')));
    });
    assert.ok(err instanceof Error);
    assert.equal(socket.connected, false);
  });

  test('connecting with the session cookie gives connection_success {user_id, username, display_name}', async () => {
    const alice = await ctx.server.newUser('alice');
    const socket = await ctx.server.connect(alice.cookie);
    assert.equal(socket.connected, true);
    assert.equal(socket.io.engine.transport.name, 'websocket');
    const hello = socket.hello;
    assert.equal(typeof hello.user_id, 'number');
    assert.ok(Number.isInteger(hello.user_id) && hello.user_id > 0);
    assert.equal(hello.user_id, alice.user.id);
    assert.equal(hello.username, alice.username);
    assert.equal(typeof hello.display_name, 'string');
    assert.ok(hello.display_name.length > 0);
  });

  test('GET /api/rooms lists General, Technology and Random with the Part A fields', async () => {
    const alice = await ctx.server.newUser('alice');
    const { status, body } = await ctx.server.getJson('/api/rooms', alice.cookie);
    assert.equal(status, 200);
    assert.ok(Array.isArray(body));
    for (const name of ['General', 'Technology', 'Random']) {
      const room = body.find((r) => r.room_name === name);
      assert.ok(room, `room ${name} listed`);
      assert.ok(Number.isInteger(room.id) && room.id > 0);
      assert.equal(room.room_type, 'public');
      assert.ok('created_by' in room);
      assert.ok('created_at' in room);
    }
    const anonymous = await ctx.server.getJson('/api/rooms');
    assert.equal(anonymous.status, 401);
    assert.equal(typeof anonymous.body, 'object');
  });

  test('the default transports (polling, then upgrade to websocket) carry the protocol', async () => {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const general = await roomByName(ctx.server, alice.cookie, 'General');

    // transports: null leaves the client's default, ['polling', 'websocket'].
    const socket = ctx.server.rawSocket(alice.cookie, { transports: null });
    const hello = waitFor(socket, 'connection_success');
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    const engine = socket.io.engine;
    const upgraded = engine.transport.name === 'websocket'
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
        engine.once('upgrade', resolve);
        engine.once('upgradeError', reject);
        setTimeout(() => reject(new Error('no upgrade to websocket within 5 s')), 5000).unref();
      });
    socket.hello = await hello;
    assert.equal(socket.hello.username, alice.username);

    // Join and talk over whichever transport is current, then again after the upgrade.
    const other = await ctx.server.connect(bob.cookie);
    await joinRoom(other, general);
    await joinRoom(socket, general);
    const first = await socket.emitWithAck('send_message', { room_id: general.id, message: 'over polling or websocket' });
    assert.equal(first.ok, true);
    await upgraded;
    assert.equal(engine.transport.name, 'websocket');
    const second = await socket.emitWithAck('send_message', { room_id: general.id, message: 'after the upgrade' });
    assert.equal(second.ok, true);
    const seen = await waitFor(other, 'new_message', (m) => m.id === second.id);
    assert.equal(seen.message, 'after the upgrade');
    await waitFor(other, 'new_message', (m) => m.id === first.id);
  });

  test('polling only (no upgrade) also works, the cookie sent on every request', async () => {
    const alice = await ctx.server.newUser('alice');
    const general = await roomByName(ctx.server, alice.cookie, 'General');
    const socket = await ctx.server.connect(alice.cookie, { transports: ['polling'] });
    assert.equal(socket.io.engine.transport.name, 'polling');
    const ack = await socket.emitWithAck('join_room', { room_id: general.id, room_name: general.room_name });
    assert.deepEqual(ack, { ok: true, room_id: general.id, room_name: 'General' });
    const sent = await socket.emitWithAck('send_message', { room_id: general.id, message: 'polling hello' });
    assert.equal(sent.ok, true);
    const echo = await waitFor(socket, 'new_message', (m) => m.id === sent.id);
    assert.equal(echo.message, 'polling hello');
  });

  test('one user may hold several sockets at once', async () => {
    const alice = await ctx.server.newUser('alice');
    const a1 = await ctx.server.connect(alice.cookie);
    const a2 = await ctx.server.connect(alice.cookie);
    assert.equal(a1.hello.user_id, a2.hello.user_id);
    assert.notEqual(a1.id, a2.id);
  });

  // Flask-SocketIO's clients reconnect by themselves when the server goes
  // away. A graceful stop must look the same to them: the transport closes,
  // and no Socket.IO disconnect ("io server disconnect") tells them they were
  // sent away on purpose, after which a client stays away.
  for (const transport of ['websocket', 'polling']) {
    test(`after a restart (SIGTERM) a client reconnects by itself and rejoins (${transport})`, async () => {
      const server = await startServer();
      try {
        const alice = await server.newUser('alice');
        const general = await roomByName(server, alice.cookie, 'General');
        const socket = await server.connect(alice.cookie, { transports: [transport], reconnection: true });
        const gone = new Promise((resolve) => socket.once('disconnect', resolve));
        const back = new Promise((resolve) => socket.io.once('reconnect', resolve));
        const info = await server.restart();
        assert.deepEqual(info, { code: 0, signal: null }, `clean exit; output:\n${server.log()}`);
        assert.notEqual(await gone, 'io server disconnect');
        let timer;
        const late = new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('not reconnected within 15 s of the restart')), 15_000);
        });
        await Promise.race([back, late]).finally(() => clearTimeout(timer));

        const ack = await socket.emitWithAck('join_room', { room_id: general.id, room_name: general.room_name });
        assert.deepEqual(ack, { ok: true, room_id: general.id, room_name: 'General' });
        const sent = await socket.emitWithAck('send_message', { room_id: general.id, message: 'after the restart' });
        assert.equal(sent.ok, true);
        const echo = await waitFor(socket, 'new_message', (m) => m.id === sent.id);
        assert.equal(echo.message, 'after the restart');
      } finally {
        await server.stop();
      }
    });
  }

  ctx.stopsCleanly(test);
});
