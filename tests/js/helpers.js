// Test harness: starts a fresh Parley server in its own temporary directory,
// and wraps the official socket.io-client and Node's fetch for the tests.
//
// The suite never builds the server: it runs the binary named by PARLEY_BIN,
// by default ../../target/debug/parley relative to this folder.

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { spawnParley, terminate } from './server-process.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Where the server binary is: PARLEY_BIN, or the debug build of this repository. */
export const PARLEY_BIN = process.env.PARLEY_BIN
  ? path.resolve(process.env.PARLEY_BIN)
  : path.resolve(here, '../../target/debug/parley');

const MISSING_BINARY =
  `Parley server binary not found at ${PARLEY_BIN}. ` +
  'Build it first: PARLEY_SKIP_WEB_BUILD=1 cargo build ' +
  '(or point PARLEY_BIN at a built binary).';

// Fail every test file at load time (each counts as a failed test) rather
// than leaving its tests cancelled by a failed hook.
if (!existsSync(PARLEY_BIN)) throw new Error(MISSING_BINARY);

/** The typing TTL the servers are started with, in milliseconds. */
export const TYPING_TTL_MS = 400;

/** How long an absence is watched for before it counts as "nothing came". */
export const QUIET_MS = 300;

const DEFAULT_TIMEOUT_MS = 5000;

/** Servers still running, killed if the test process exits without stopping them. */
const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let userCounter = 0;

/** A username that no other test of this process uses (3..=32 chars of [A-Za-z0-9_.-]). */
export function uniqueName(prefix = 'user') {
  userCounter += 1;
  const rand = Math.random().toString(36).slice(2, 8);
  return `${prefix}_${userCounter}_${rand}`.slice(0, 32);
}

/**
 * Starts a Parley server on a port the system chooses, with a new SQLite
 * database in a new temporary directory, and waits until /healthz answers 200.
 */
export async function startServer() {
  if (!existsSync(PARLEY_BIN)) {
    throw new Error(MISSING_BINARY);
  }
  const tmpdir = await mkdtemp(path.join(os.tmpdir(), 'parley-js-'));
  try {
    return new Server({ tmpdir, ...(await launch(tmpdir, 0)) });
  } catch (err) {
    await rm(tmpdir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Spawns the binary with the database in `tmpdir`, on `port` (0: the system
 * chooses); resolves once /healthz answers 200. Running servers are killed
 * if the test process exits without stopping them.
 */
async function launch(tmpdir, port) {
  const started = await spawnParley(PARLEY_BIN, {
    cwd: tmpdir,
    port,
    env: {
      DATABASE_URL: `sqlite:${path.join(tmpdir, 'parley.db')}`,
      PARLEY_LOG: 'warn',
      PARLEY_TYPING_TTL_MS: String(TYPING_TTL_MS),
      // The suite opens many sockets from 127.0.0.1.
      PARLEY_MAX_CONNECTIONS_PER_ADDRESS: '0',
      // The suite registers and logs in many users from 127.0.0.1, some at once.
      PARLEY_REGISTRATIONS_PER_ADDRESS: '100000',
      PARLEY_HASH_QUEUE: '10000',
      PARLEY_LOGIN_FAILURES_PER_ADDRESS: '100000',
      // The suite creates rooms and joins in quick bursts from few users.
      PARLEY_ROOM_CREATE_BURST: '1000',
      PARLEY_JOIN_BURST: '1000',
      PARLEY_TYPING_BURST: '1000',
    },
  });
  running.add(started.child);
  started.exited.then(() => running.delete(started.child));
  return started;
}

/** One running server, with the sockets the tests opened against it. */
export class Server {
  constructor({ base, port, tmpdir, child, exited, log }) {
    this.base = base;
    this.port = port;
    this.tmpdir = tmpdir;
    this.child = child;
    this.exited = exited;
    this.log = log;
    this.sockets = new Set();
  }

  /** fetch() against the server; `path` starts with '/'. */
  fetch(urlPath, init = {}) {
    return fetch(`${this.base}${urlPath}`, init);
  }

  /** GET a JSON API route with the session cookie; returns {status, body}. */
  async getJson(urlPath, cookie) {
    const res = await this.fetch(urlPath, { headers: cookie ? { Cookie: cookie } : {} });
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, body, headers: res.headers };
  }

  /** POST /api/register {username, email, password}; returns the created user. */
  async register(username, password, extra = {}) {
    const res = await this.fetch('/api/register', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, email: `${username}@example.test`, password, ...extra }),
    });
    const body = await res.json().catch(() => null);
    if (res.status !== 201 && res.status !== 200) {
      throw new Error(`register ${username}: HTTP ${res.status} ${JSON.stringify(body)}`);
    }
    return body;
  }

  /**
   * POST /api/login {username, password}; returns {cookie, user} where cookie
   * is "parley_session=<token>", ready for a Cookie header.
   */
  async login(username, password) {
    const res = await this.fetch('/api/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    const user = await res.json().catch(() => null);
    if (res.status !== 200) {
      throw new Error(`login ${username}: HTTP ${res.status} ${JSON.stringify(user)}`);
    }
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('parley_session='));
    if (!setCookie) {
      throw new Error(`login ${username}: no parley_session cookie in ${JSON.stringify(res.headers.getSetCookie())}`);
    }
    const cookie = setCookie.split(';')[0].trim();
    return { cookie, user };
  }

  /** Registers and logs in a new user with a unique name. */
  async newUser(prefix = 'user') {
    const username = uniqueName(prefix);
    const password = 'correct horse battery';
    const registered = await this.register(username, password);
    const { cookie, user } = await this.login(username, password);
    return { username, password, cookie, user, registered };
  }

  /**
   * Opens a socket with the official client and waits for `connect` and
   * `connection_success`. Resolves with the socket; `socket.hello` holds the
   * connection_success payload. Every event the socket receives is recorded
   * (see waitFor).
   */
  async connect(cookie, options = {}) {
    const socket = this.rawSocket(cookie, options);
    const hello = waitFor(socket, 'connection_success', () => true, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const connected = new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', (err) => reject(new Error(`connect_error: ${err.message}`)));
    });
    await connected;
    socket.hello = await hello;
    return socket;
  }

  /**
   * Creates a socket without waiting for anything. `cookie` may be null.
   * Options: {transports} (default ['websocket']; pass null for the client's default),
   * {auth} (the handshake's auth payload), {reconnection} (default false).
   */
  rawSocket(cookie, options = {}) {
    const opts = {
      reconnection: options.reconnection ?? false,
      forceNew: true,
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    };
    const transports = options.transports === undefined ? ['websocket'] : options.transports;
    if (transports) opts.transports = transports;
    if (cookie) opts.extraHeaders = { Cookie: cookie };
    if (options.auth) opts.auth = options.auth;
    const socket = io(this.base, opts);
    record(socket);
    this.sockets.add(socket);
    return socket;
  }

  /** Closes every socket opened through this server object. */
  closeSockets() {
    for (const s of this.sockets) s.disconnect();
    this.sockets.clear();
  }

  /**
   * Closes the sockets, sends SIGTERM, waits for the process to exit, removes
   * the temporary directory. Resolves with the exit {code, signal}.
   */
  async stop() {
    this.closeSockets();
    const info = await this.terminate();
    await rm(this.tmpdir, { recursive: true, force: true });
    return info;
  }

  /**
   * Stops the process as a deploy does (SIGTERM), leaving the sockets to see
   * it go, and starts it again on the same port and database (the port it
   * had: the clients come back to it). Resolves with the old process's exit
   * {code, signal}.
   */
  async restart() {
    const info = await this.terminate();
    // Right after a stop the port can still be held for a moment: retry the bind.
    for (let attempt = 1; ; attempt++) {
      try {
        Object.assign(this, await launch(this.tmpdir, this.port));
        return info;
      } catch (err) {
        if (attempt >= 5 || !/exited during start/.test(err.message)) throw err;
        await sleep(200 * attempt);
      }
    }
  }

  /** SIGTERM (SIGKILL after 10 s); resolves with the exit {code, signal}. */
  terminate() {
    return terminate(this);
  }
}

const RECORD = Symbol('parley.recorded');

/** Records every event a socket receives, so a waitFor never misses an early one. */
function record(socket) {
  socket[RECORD] = [];
  socket.onAny((event, ...args) => {
    socket[RECORD].push({ event, payload: args[0], at: Date.now() });
  });
}

/** The events of one name a socket has received so far, in order. */
export function received(socket, event) {
  return (socket[RECORD] ?? []).filter((e) => e.event === event).map((e) => e.payload);
}

/**
 * Resolves with the payload of the first `event` on `socket` for which
 * `predicate(payload)` is true. Events already received by a socket made by
 * Server#connect / rawSocket count too (they are recorded from creation), so
 * the order of `emit` and `waitFor` does not matter. Rejects after timeoutMs.
 * Reserved events (connect_error, disconnect) are only waited for, not recorded.
 */
export function waitFor(socket, event, predicate = () => true, timeoutMs = DEFAULT_TIMEOUT_MS) {
  const past = (socket[RECORD] ?? []).find((e) => e.event === event && predicate(e.payload));
  if (past) return Promise.resolve(past.payload);
  return new Promise((resolve, reject) => {
    const onEvent = (payload) => {
      let ok;
      try {
        ok = predicate(payload);
      } catch (err) {
        cleanup();
        reject(err);
        return;
      }
      if (ok) {
        cleanup();
        resolve(payload);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      const seen = (socket[RECORD] ?? []).filter((e) => e.event === event).map((e) => e.payload);
      reject(
        new Error(
          `timed out after ${timeoutMs} ms waiting for '${event}' matching the predicate; ` +
            `'${event}' payloads seen: ${JSON.stringify(seen)}`,
        ),
      );
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off(event, onEvent);
    };
    socket.on(event, onEvent);
  });
}

/**
 * Watches `socket` for `windowMs` and resolves with every `event` payload
 * matching `predicate` that arrived, from the start of the watch (or, with
 * {includePast: true}, since the socket was created).
 */
export async function collect(socket, event, predicate = () => true, windowMs = QUIET_MS, { includePast = false } = {}) {
  const start = includePast ? 0 : (socket[RECORD] ?? []).length;
  await sleep(windowMs);
  return (socket[RECORD] ?? [])
    .slice(start)
    .filter((e) => e.event === event && predicate(e.payload))
    .map((e) => e.payload);
}

/** An ISO 8601 / RFC 3339 UTC timestamp string. */
export function isIsoTimestamp(value) {
  return (
    typeof value === 'string' &&
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]00:00)$/.test(value) &&
    !Number.isNaN(Date.parse(value))
  );
}

/** GET /api/rooms and find a room by name. */
export async function roomByName(server, cookie, name) {
  const { status, body } = await server.getJson('/api/rooms', cookie);
  if (status !== 200) throw new Error(`GET /api/rooms: HTTP ${status} ${JSON.stringify(body)}`);
  const room = body.find((r) => r.room_name === name);
  if (!room) throw new Error(`no room named ${name} in ${JSON.stringify(body)}`);
  return room;
}

/** Emits `join_room` and waits for the joiner's own `user_joined`. */
export async function joinRoom(socket, room) {
  const joined = waitFor(
    socket,
    'user_joined',
    (p) => p.room_id === room.id && p.username === socket.hello.username,
  );
  socket.emit('join_room', { room_id: room.id, room_name: room.room_name });
  return joined;
}

export { sleep };

/**
 * Registers node:test hooks for one server per test file: started before the
 * first test, each test's sockets closed after it, and stopped after the last
 * test. Call `ctx.stopsCleanly(test)` as the last test of the file: it stops
 * the server with SIGTERM and asserts exit code 0, so an unclean shutdown is
 * counted as a failed test. The `after` hook stops the server (and removes the
 * temporary directory) when that test did not run or failed half-way.
 * Returns an object whose `server` property is set once started.
 */
export function useServer({ before, after, afterEach }) {
  const ctx = {
    server: null,
    stopped: false,
    async stop() {
      if (!ctx.server || ctx.stopped) return null;
      ctx.stopped = true;
      return ctx.server.stop();
    },
    stopsCleanly(test) {
      test('the server exits with code 0 on SIGTERM', async () => {
        const { code, signal } = await ctx.stop();
        if (code !== 0) {
          throw new Error(
            `Parley did not exit cleanly on SIGTERM: code ${code}, signal ${signal}. Output:\n${ctx.server.log()}`,
          );
        }
      });
    },
  };
  before(async () => {
    ctx.server = await startServer();
  });
  afterEach(() => {
    if (!ctx.stopped) ctx.server?.closeSockets();
  });
  after(async () => {
    await ctx.stop();
  });
  return ctx;
}
