// Two Parley instances sharing PostgreSQL and Redis behind nginx, configured
// with the shipped deploy/nginx/parley.conf; the official client connects
// through nginx (polling, then the WebSocket upgrade).
//
// Runs when PARLEY_TEST_POSTGRES_URL and PARLEY_TEST_REDIS_URL are set and
// nginx is installed (.ci/run); skipped otherwise.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { PARLEY_BIN } from './helpers.js';
import { spawnParley } from './server-process.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pgUrl = process.env.PARLEY_TEST_POSTGRES_URL;
const redisUrl = process.env.PARLEY_TEST_REDIS_URL;
const nginx = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => spawnSync(p, ['-v']).status === 0);
const skip = !pgUrl || !redisUrl || !nginx
  ? 'needs PARLEY_TEST_POSTGRES_URL, PARLEY_TEST_REDIS_URL and nginx'
  : false;

const children = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

async function startParley(databaseUrl, prefix) {
  const started = await spawnParley(PARLEY_BIN, {
    readyPath: '/readyz',
    env: { DATABASE_URL: databaseUrl, PARLEY_REDIS_URL: redisUrl, PARLEY_REDIS_PREFIX: prefix, PARLEY_LOG: 'warn' },
  });
  children.push(started.child);
  return started;
}

/**
 * nginx cannot listen on a port the system chooses (`listen 127.0.0.1:0` is
 * refused), so the front takes a port that was free a moment ago; when
 * another process took it in between, nginx exits and the next port is tried.
 * Each try's answers carry a token of its own, so another server answering
 * on that port is never taken for this nginx. Resolves with {proxy, base}.
 */
async function startFront(dir, site) {
  for (let attempt = 1; ; attempt++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
    const token = `${process.pid}-${Date.now()}-${attempt}`;
    await writeFile(path.join(dir, 'parley.conf'), site
      .replace('listen 80;', `listen 127.0.0.1:${port};`)
      .replace('location / {', `location / {\n        add_header X-Test-Front ${token} always;`));
    const proxy = spawn(nginx, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'inherit' });
    children.push(proxy);
    let gone = false;
    proxy.on('exit', () => { gone = true; });
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 10000;
    while (!gone && Date.now() < deadline) {
      try {
        const r = await fetch(`${base}/healthz`);
        if (r.ok && r.headers.get('x-test-front') === token) return { proxy, base };
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    proxy.kill('SIGKILL');
    if (attempt >= 5) throw new Error(`nginx did not start on a free port in ${attempt} tries (see its errors above)`);
  }
}

async function login(base, username) {
  const r = await fetch(`${base}/api/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: 'correct horse' }),
  });
  assert.equal(r.status, 200);
  return r.headers.getSetCookie().find((c) => c.startsWith('parley_session=')).split(';')[0];
}

async function upstreamOf(base, cookie) {
  const r = await fetch(`${base}/api/me`, { headers: { cookie } });
  assert.equal(r.status, 200);
  return r.headers.get('x-parley-upstream');
}

test('a message crosses instances through the nginx front, with the official client', { skip, timeout: 60000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-nginx-'));
  const dbName = `parley_nginx_${process.pid}_${Date.now()}`;
  const server = pgUrl.replace(/\/[^/?]*(\?.*)?$/, '');
  assert.equal(spawnSync('psql', [pgUrl, '-qc', `CREATE DATABASE ${dbName}`]).status, 0, 'database created');
  const prefix = `parley-nginx-test-${process.pid}-${Date.now()}`;
  const sockets = [];
  try {
    const a = await startParley(`${server}/${dbName}`, prefix);
    const b = await startParley(`${server}/${dbName}`, prefix);

    // The shipped site config, pointed at these two instances; the test also
    // asks nginx which instance answered.
    let site = await readFile(path.resolve(here, '../../deploy/nginx/parley.conf'), 'utf8');
    site = site
      .replace(/server 127\.0\.0\.1:5001;\s*server 127\.0\.0\.1:5002;/, `server 127.0.0.1:${a.port};\n    server 127.0.0.1:${b.port};`)
      .replace('location / {', 'location / {\n        add_header X-Parley-Upstream $upstream_addr always;');
    assert.match(site, new RegExp(`server 127.0.0.1:${b.port};`));
    await mkdir(path.join(dir, 'tmp'));
    await writeFile(path.join(dir, 'nginx.conf'), `
user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  include ${dir}/parley.conf;
}
`);
    const { proxy, base } = await startFront(dir, site);

    for (const name of ['ann', 'bob']) {
      const r = await fetch(`${base}/api/register`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: name, email: `${name}@example.test`, password: 'correct horse' }),
      });
      assert.equal(r.status, 201);
    }
    // Log bob in until his session is routed to the other instance than ann's.
    const annCookie = await login(base, 'ann');
    const annUpstream = await upstreamOf(base, annCookie);
    let bobCookie;
    for (let i = 0; i < 30; i++) {
      bobCookie = await login(base, 'bob');
      if ((await upstreamOf(base, bobCookie)) !== annUpstream) break;
    }
    assert.notEqual(await upstreamOf(base, bobCookie), annUpstream, 'the two users are on different instances');

    const connect = (cookie) => {
      const s = io(base, { extraHeaders: { Cookie: cookie }, reconnection: false, forceNew: true });
      sockets.push(s);
      const copies = [];
      s.on('new_message', (m) => copies.push(m));
      s.copies = copies;
      return new Promise((resolve, reject) => {
        s.once('connection_success', () => resolve(s));
        s.once('connect_error', (e) => reject(new Error(`connect_error through nginx: ${e.message}`)));
      });
    };
    const ann = await connect(annCookie);
    const bob = await connect(bobCookie);
    // The default transports start with polling and upgrade to WebSocket: both
    // must stick to one instance through nginx.
    await Promise.all([ann, bob].map((s) => new Promise((resolve) => {
      if (s.io.engine.transport.name === 'websocket') resolve();
      else s.io.engine.once('upgrade', resolve);
    })));
    assert.equal((await ann.emitWithAck('join_room', { room_id: 1, room_name: 'General' })).ok, true);
    assert.equal((await bob.emitWithAck('join_room', { room_id: 1, room_name: 'General' })).ok, true);
    const ack = await ann.emitWithAck('send_message', { room_id: 1, message: 'through nginx' });
    assert.equal(ack.ok, true);
    const deadline = Date.now() + 5000;
    while (!bob.copies.some((m) => m.id === ack.id) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(bob.copies.find((m) => m.id === ack.id)?.message, 'through nginx');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(bob.copies.filter((m) => m.id === ack.id).length, 1, 'exactly once');

    proxy.kill('SIGTERM');
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
  } finally {
    sockets.forEach((s) => s.close());
    await new Promise((r) => setTimeout(r, 200));
    children.forEach((c) => c.kill('SIGKILL'));
    spawnSync('psql', [pgUrl, '-qc', `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`]);
    await rm(dir, { recursive: true, force: true });
  }
});
