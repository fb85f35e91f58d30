// The `membership` capability (docs/protocol.md Part C): a socket that asks
// for it receives its user's rooms without join_room; a plain socket keeps
// Part A's per-socket joins.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';

import { QUIET_MS, collect, useServer, waitFor } from './helpers.js';

describe('membership capability', () => {
  const ctx = useServer({ before, after, afterEach });

  async function post(path, cookie, body) {
    const res = await ctx.server.fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Cookie: cookie },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  test("a membership socket receives a member room's messages without join_room; a plain socket does not", async () => {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const created = await post('/api/rooms', alice.cookie, {
      room_name: `team-${Date.now()}`,
      room_type: 'private',
      member_ids: [bob.user.id],
    });
    assert.equal(created.status, 201);
    const room = created.body;

    const follows = await ctx.server.connect(bob.cookie, { auth: { capabilities: ['membership'] } });
    const plain = await ctx.server.connect(bob.cookie);
    const sender = await ctx.server.connect(alice.cookie, { auth: { capabilities: ['membership'] } });

    const ack = await sender.emitWithAck('send_message', { room_id: room.id, message: 'no join needed' });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    const got = await waitFor(follows, 'new_message', (m) => m.room_id === room.id);
    assert.equal(got.message, 'no join needed');
    assert.deepEqual(await collect(plain, 'new_message', (m) => m.room_id === room.id, QUIET_MS, { includePast: true }), []);
    // No announcement for subscribing at connect.
    assert.deepEqual(await collect(follows, 'user_joined', () => true, QUIET_MS, { includePast: true }), []);
  });

  test('a membership socket hears room_added and the room at once when its user is added', async () => {
    const alice = await ctx.server.newUser('alice');
    const bob = await ctx.server.newUser('bob');
    const follows = await ctx.server.connect(bob.cookie, { auth: { capabilities: ['membership'] } });
    const created = await post('/api/rooms', alice.cookie, { room_name: `later-${Date.now()}`, room_type: 'private' });
    const room = created.body;
    const added = await post(`/api/rooms/${room.id}/members`, alice.cookie, { user_ids: [bob.user.id] });
    assert.equal(added.status, 204);
    const seen = await waitFor(follows, 'room_added', (r) => r.id === room.id);
    assert.equal(seen.my_role, 'member');
    const sender = await ctx.server.connect(alice.cookie, { auth: { capabilities: ['membership'] } });
    await sender.emitWithAck('send_message', { room_id: room.id, message: 'welcome' });
    await waitFor(follows, 'new_message', (m) => m.message === 'welcome');
  });
});
