// Smoke test for the Node baseline (works against Parley too):
//   node smoke.mjs [base-url]        (default http://127.0.0.1:5100, or $BASE_URL)
// Registers two users, logs them in, connects both over Socket.IO, joins
// General, sends a message with an ack, checks the other user gets exactly one
// new_message, checks a client_id retry and a few errors, checks the history
// at /api/messages/1. Exits 0 when everything holds.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { io } from 'socket.io-client';

const BASE = (process.argv[2] || process.env.BASE_URL || 'http://127.0.0.1:5100').replace(/\/$/, '');
const PASSWORD = 'correct horse battery';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sockets = [];

function step(text) {
  console.log(`ok - ${text}`);
}

async function json(method, path, { body, cookie } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (cookie) headers.cookie = cookie;
  const res = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), redirect: 'manual' });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  return { status: res.status, data, headers: res.headers };
}

async function registerAndLogin(username) {
  const reg = await json('POST', '/api/register', {
    body: { username, email: `${username}@example.test`, password: PASSWORD, display_name: `Smoke ${username}` },
  });
  assert.equal(reg.status, 201, `register ${username}: ${JSON.stringify(reg.data)}`);
  assert.equal(reg.data.username, username);
  const login = await json('POST', '/api/login', { body: { username, password: PASSWORD } });
  assert.equal(login.status, 200, `login ${username}: ${JSON.stringify(login.data)}`);
  const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('parley_session='));
  assert.ok(cookie, 'login sets the parley_session cookie');
  return { ...login.data, cookie };
}

function connect(cookie, opts = {}) {
  const socket = io(BASE, { extraHeaders: cookie ? { cookie } : {}, reconnection: false, ...opts });
  sockets.push(socket);
  return socket;
}

function once(socket, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), ms);
    socket.once(event, (data) => { clearTimeout(t); resolve(data); });
  });
}

async function main() {
  const health = await fetch(`${BASE}/healthz`);
  assert.equal(health.status, 200, '/healthz');

  const unauth = await json('GET', '/api/rooms');
  assert.equal(unauth.status, 401);
  assert.equal(unauth.data.error.code, 'not_authenticated');
  step('/api/rooms without a session is 401 JSON');

  const tag = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  const ann = await registerAndLogin(`ann_${tag}`);
  const bob = await registerAndLogin(`bob_${tag}`);
  step(`registered and logged in ${ann.username} and ${bob.username}`);

  const rooms = await json('GET', '/api/rooms', { cookie: ann.cookie });
  assert.equal(rooms.status, 200);
  const general = rooms.data.find((r) => r.id === 1);
  assert.equal(general?.room_name, 'General', 'room 1 is General');
  step('/api/rooms lists General as room 1');

  const stranger = connect(null);
  const refused = await once(stranger, 'connect_error');
  assert.ok(refused instanceof Error);
  step(`a socket without a session gets connect_error (${refused.message})`);

  // One over long-polling + upgrade, one straight over WebSocket.
  const a = connect(ann.cookie);
  const b = connect(bob.cookie, { transports: ['websocket'] });
  const [helloA, helloB] = await Promise.all([once(a, 'connection_success'), once(b, 'connection_success')]);
  assert.equal(helloA.user_id, ann.id);
  assert.equal(helloA.username, ann.username);
  assert.equal(helloB.display_name, `Smoke ${bob.username}`);
  step('both sockets connected and got connection_success');

  const joinedA = await a.emitWithAck('join_room', { room_id: 1, room_name: 'General' });
  assert.deepEqual(joinedA, { ok: true, room_id: 1, room_name: 'General' });
  const bobSeesJoin = once(b, 'user_joined');
  const joinedB = await b.emitWithAck('join_room', { room_id: '1', room_name: 'General' });
  assert.deepEqual(joinedB, { ok: true, room_id: 1, room_name: 'General' });
  const notice = await bobSeesJoin;
  assert.equal(notice.room_id, 1);
  assert.equal(notice.username, bob.username);
  step('both joined General (acked; the joiner hears user_joined)');

  const online = await json('GET', '/api/online-users/1', { cookie: ann.cookie });
  assert.equal(online.status, 200);
  assert.deepEqual(online.data.map((u) => u.username).filter((n) => n.endsWith(tag)).sort(), [ann.username, bob.username]);
  step('/api/online-users/1 lists both');

  const seenByB = [];
  const seenByA = [];
  b.on('new_message', (m) => seenByB.push(m));
  a.on('new_message', (m) => seenByA.push(m));

  const clientId = randomUUID();
  const text = `hello from ${ann.username} ✓`;
  const ack = await a.emitWithAck('send_message', { room_id: 1, message: `  ${text}  `, client_id: clientId });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  assert.ok(Number.isInteger(ack.id) && ack.id > 0, 'ack carries the id');
  assert.match(ack.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'ack timestamp is RFC 3339 UTC');
  step(`send_message acked: id ${ack.id} at ${ack.timestamp}`);

  // A retry with the same client_id stores and broadcasts nothing new.
  const retry = await a.emitWithAck('send_message', { room_id: 1, message: text, client_id: clientId });
  assert.deepEqual(retry, { ok: true, id: ack.id, timestamp: ack.timestamp });
  step('a retry with the same client_id acks the first id');

  await sleep(300);
  assert.equal(seenByB.length, 1, `bob got new_message ${seenByB.length} times`);
  assert.equal(seenByA.length, 1, `ann got new_message ${seenByA.length} times`);
  const m = seenByB[0];
  assert.deepEqual(
    { ...m },
    {
      id: ack.id,
      room_id: 1,
      user_id: ann.id,
      username: ann.username,
      display_name: `Smoke ${ann.username}`,
      avatar_color: ann.avatar_color,
      message: text,
      message_type: 'text',
      timestamp: ack.timestamp,
      client_id: clientId,
    },
  );
  step('bob received new_message exactly once, with every field');

  const notIn = await a.emitWithAck('send_message', { room_id: 2, message: 'nope' });
  assert.equal(notIn.ok, false);
  assert.equal(notIn.error.code, 'not_in_room');
  const tooLong = await a.emitWithAck('send_message', { room_id: 1, message: 'x'.repeat(4001) });
  assert.equal(tooLong.error.code, 'message_too_long');
  const noRoom = await a.emitWithAck('join_room', { room_id: 999999, room_name: 'nowhere' });
  assert.equal(noRoom.error.code, 'room_not_found');
  const bad = await a.emitWithAck('send_message', 'not an object');
  assert.equal(bad.error.code, 'invalid_payload');
  const chatError = once(a, 'chat_error');
  a.emit('send_message', { room_id: 3, message: 'no ack' });
  const ce = await chatError;
  assert.equal(ce.event, 'send_message');
  assert.equal(ce.code, 'not_in_room');
  step('errors: not_in_room, message_too_long, room_not_found, invalid_payload, chat_error without an ack');

  const history = await json('GET', '/api/messages/1', { cookie: bob.cookie });
  assert.equal(history.status, 200);
  assert.ok(Array.isArray(history.data));
  const stored = history.data.filter((h) => h.id === ack.id);
  assert.equal(stored.length, 1, 'the message is in the history once');
  assert.equal(stored[0].message, text);
  assert.equal(stored[0].username, ann.username);
  assert.equal(stored[0].timestamp, ack.timestamp);
  assert.equal(history.data.at(-1).id, ack.id, 'newest last');
  const ids = history.data.map((h) => h.id);
  assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'oldest first');
  const after = await json('GET', `/api/messages/1?after=${ack.id - 1}&limit=5`, { cookie: bob.cookie });
  assert.equal(after.data[0].id, ack.id);
  const first = await json('GET', '/api/messages/1?after=0&limit=1', { cookie: bob.cookie });
  assert.equal(first.data.length, 1);
  const badLimit = await json('GET', '/api/messages/1?limit=0', { cookie: bob.cookie });
  assert.equal(badLimit.status, 400);
  const unknown = await json('GET', '/api/messages/999999', { cookie: bob.cookie });
  assert.equal(unknown.status, 404);
  step('history at /api/messages/1 holds the message once, oldest first; after/limit work');

  for (const s of sockets) s.close();
  console.log('smoke test passed');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('smoke test FAILED:', err);
    for (const s of sockets) s.close();
    process.exit(1);
  },
);
