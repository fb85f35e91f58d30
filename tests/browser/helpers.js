// Harness for the real-browser suite: a fresh Parley server per test (its own
// temporary directory, SQLite database and port), Debian's Chromium driven by
// playwright-core, users registered and logged in through the real forms, and
// guards that fail a test on page errors, CSP violations or dialogs.
//
// The suite never builds anything: it runs the binary named by PARLEY_BIN
// (default ../../target/debug/parley relative to this folder), which must have
// been built with the web client embedded (`cargo build`).

import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { io } from 'socket.io-client';
import { spawnParley, terminate } from '../js/server-process.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Where the server binary is: PARLEY_BIN, or the debug build of this repository. */
export const PARLEY_BIN = process.env.PARLEY_BIN
  ? path.resolve(process.env.PARLEY_BIN)
  : path.resolve(here, '../../target/debug/parley');

/** Chromium: Debian's package (no Playwright browser download). */
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-quic',
  '--no-first-run',
  '--disable-sync',
];

/** Screenshots the suite keeps (git-ignored: /artifacts/ in the root .gitignore). */
export const SCREENSHOT_DIR = path.resolve(here, '../../artifacts/screenshots');
const FAILURE_DIR = path.join(SCREENSHOT_DIR, 'failures');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Default time to wait for something that should happen. */
export const WAIT_MS = 10_000;
/**
 * How long the first `join_room` of a connection may take. Normally instant; but
 * the server can drop an event that arrives right after the handshake (see the
 * report / repro/dropped-first-event.mjs), and the client asks again only after
 * its 10 s ack timeout.
 */
export const JOIN_WAIT_MS = 25_000;
/** How long an absence is watched for before it counts as "did not happen". */
export const QUIET_MS = 500;
/** Per-test time limit (the reconnect test waits for Socket.IO's back-off). */
export const TEST_TIMEOUT_MS = 90_000;

export const PASSWORD = 'correct horse battery staple';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------ server

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

/**
 * One Parley server: a temporary directory with its SQLite database and a port,
 * kept across stop()/start() so a restart serves the same data on the same address.
 * The first start binds a port the system chooses (see ../js/server-process.js).
 */
export class ParleyServer {
  constructor({ tmpdir, env }) {
    this.tmpdir = tmpdir;
    /** Known once started. */
    this.port = null;
    this.base = null;
    this.dbPath = path.join(tmpdir, 'parley.db');
    this.extraEnv = env;
    this.child = null;
    this.exited = null;
    /** Output of the earlier starts, and how to read the running one's. */
    this.earlierOutput = '';
    this.currentOutput = () => '';
    this.starts = 0;
  }

  static async create(env = {}) {
    if (!existsSync(PARLEY_BIN)) {
      throw new Error(
        `Parley server binary not found at ${PARLEY_BIN}. ` +
          'Build it first (with the web client): cargo build ' +
          '(or point PARLEY_BIN at a built binary).',
      );
    }
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium not found at ${CHROMIUM} (set CHROMIUM_BIN to another path).`);
    }
    const tmpdir = await mkdtemp(path.join(os.tmpdir(), 'parley-browser-'));
    const server = new ParleyServer({ tmpdir, env });
    try {
      await server.start();
    } catch (err) {
      await rm(tmpdir, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  get isRunning() {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  log() {
    return `${this.earlierOutput}${this.currentOutput()}`.slice(-64 * 1024);
  }

  /** Starts the binary (again) on this server's port and database; waits for GET /healthz. */
  async start() {
    if (this.isRunning) throw new Error('server already running');
    // Right after a stop the port can still be held for a moment: retry the bind.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.spawnOnce();
        return;
      } catch (err) {
        if (attempt >= 5 || !/exited during start/.test(err.message)) throw err;
        await sleep(200 * attempt);
      }
    }
  }

  async spawnOnce() {
    this.starts += 1;
    const started = await spawnParley(PARLEY_BIN, {
      cwd: this.tmpdir,
      port: this.port ?? 0,
      env: {
        DATABASE_URL: `sqlite:${this.dbPath}`,
        PARLEY_LOG: 'warn',
        // Every browser and tab of the suite comes from 127.0.0.1.
        PARLEY_MAX_CONNECTIONS_PER_ADDRESS: '0',
        // The suite registers and logs in many users from 127.0.0.1, some at once.
        PARLEY_REGISTRATIONS_PER_ADDRESS: '100000',
        PARLEY_HASH_QUEUE: '10000',
        PARLEY_LOGIN_FAILURES_PER_ADDRESS: '100000',
        // The suite creates rooms and joins in quick bursts from few users.
        PARLEY_ROOM_CREATE_BURST: '1000',
        PARLEY_JOIN_BURST: '1000',
        PARLEY_TYPING_BURST: '1000',
        ...this.extraEnv,
      },
    }).catch((err) => {
      this.earlierOutput += `${this.currentOutput()}${err.message}\n`;
      this.currentOutput = () => '';
      throw err;
    });
    const { child } = started;
    running.add(child);
    this.child = child;
    this.port = started.port;
    this.base = started.base;
    this.earlierOutput += this.currentOutput();
    this.currentOutput = started.log;
    this.exited = started.exited.then((info) => {
      running.delete(child);
      return info;
    });
  }

  /**
   * SIGTERM, then waits for the exit (SIGKILL after 10 s). Keeps the database.
   * Resolves with {code, signal}.
   */
  async stop() {
    if (!this.child) return { code: null, signal: null };
    return terminate(this);
  }

  /** Stops the server (if running) and removes its directory; resolves with the exit info. */
  async destroy() {
    const info = await this.stop();
    await rm(this.tmpdir, { recursive: true, force: true });
    return info;
  }

  /** A Socket.IO client (the official one) with a browser context's session cookie. */
  async socket(cookie) {
    const socket = io(this.base, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: WAIT_MS,
      extraHeaders: { Cookie: cookie },
    });
    await new Promise((resolve, reject) => {
      socket.once('connection_success', resolve);
      socket.once('connect_error', (err) => reject(new Error(`connect_error: ${err.message}`)));
    });
    return socket;
  }

  /** GET a JSON API route with a session cookie. */
  async getJson(urlPath, cookie) {
    const res = await fetch(`${this.base}${urlPath}`, { headers: cookie ? { Cookie: cookie } : {} });
    const body = await res.json().catch(() => null);
    return { status: res.status, body };
  }
}

/** Emits with an ack and resolves with the server's answer (rejects on timeout). */
export async function emitAck(socket, event, payload) {
  return socket.timeout(WAIT_MS).emitWithAck(event, payload);
}

// ------------------------------------------------------------------ polling

/**
 * Polls `fn` until it returns a truthy value (which is returned) or `timeout`
 * passes; then fails with `message`, the last value and the last error.
 */
export async function waitUntil(fn, { timeout = WAIT_MS, interval = 50, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await fn();
      lastError = undefined;
      if (last) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError ? `; last error: ${lastError.message}` : `; last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeout} ms waiting for ${message}${detail}`);
    }
    await sleep(interval);
  }
}

/** Polls `fn` until it returns `expected` (deep-compared as JSON). */
export async function waitForValue(fn, expected, opts = {}) {
  let last;
  try {
    await waitUntil(
      async () => {
        last = await fn();
        return JSON.stringify(last) === JSON.stringify(expected);
      },
      opts,
    );
  } catch (err) {
    throw new Error(
      `${err.message.replace(/; last value: .*$/s, '')}\n  expected: ${JSON.stringify(expected)}\n  actual:   ${JSON.stringify(last)}`,
    );
  }
  return last;
}

/** Checks that `fn` keeps returning a truthy value for `ms` (an absence / stability window). */
export async function staysTrue(fn, ms = QUIET_MS, message = 'condition to hold') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (!v) throw new Error(`expected ${message} for ${ms} ms, but it stopped holding`);
    if (Date.now() >= deadline) return;
    await sleep(50);
  }
}

/** Waits until a locator matches exactly `n` elements. */
export async function expectCount(locator, n, opts = {}) {
  return waitForValue(() => locator.count(), n, { message: `${locator} to match ${n} element(s)`, ...opts });
}

// ------------------------------------------------------------------ page queries

/**
 * The message rows of the open room, in DOM order:
 * {text, id, pending, failed, own, username}.
 */
export function messageRows(page) {
  return page.$$eval('[data-testid="message-list"] [data-testid="message"]', (rows) =>
    rows.map((row) => ({
      text: row.querySelector('[data-testid="message-text"]')?.textContent ?? null,
      id: row.getAttribute('data-message-id'),
      pending: row.getAttribute('data-pending') === 'true',
      failed: row.getAttribute('data-failed') === 'true',
      own: row.getAttribute('data-own') === 'true',
      username: row.getAttribute('data-username'),
    })),
  );
}

/** The rows whose message text is exactly `text`. */
export async function rowsWithText(page, text) {
  return (await messageRows(page)).filter((r) => r.text === text);
}

/**
 * Waits until exactly one row shows `text`, acknowledged (a message id, not
 * pending), and that it stays the only one for a short window. Returns the row.
 */
export async function expectDeliveredOnce(page, text, opts = {}) {
  const who = opts.who ? ` in ${opts.who}'s page` : '';
  await waitUntil(
    async () => {
      const rows = await rowsWithText(page, text);
      return rows.length === 1 && rows[0].id && !rows[0].pending && !rows[0].failed;
    },
    { message: `exactly one acknowledged row "${text}"${who}`, timeout: opts.timeout ?? WAIT_MS },
  ).catch(async (err) => {
    throw new Error(`${err.message}\n  rows: ${JSON.stringify(await rowsWithText(page, text))}`);
  });
  let row;
  await staysTrue(
    async () => {
      const rows = await rowsWithText(page, text);
      row = rows[0];
      return rows.length === 1;
    },
    opts.quiet ?? QUIET_MS,
    `a single row "${text}"${who}`,
  );
  return row;
}

export function roomItem(page, name) {
  return page.locator(`[data-testid="room-item"][data-room-name="${name}"]`);
}

export function onlineUser(page, username) {
  return page.locator(`[data-testid="online-user"][data-username="${username}"]`);
}

/**
 * Opens a room from the sidebar and waits until it is the current room. A public
 * room the user is not a member of (Part C) is joined from the room browser first.
 */
export async function openRoom(page, name) {
  if ((await roomItem(page, name).count()) === 0 && (await page.getByTestId('browse-rooms-button').count()) > 0) {
    await joinFromBrowser(page, name);
  } else {
    await roomItem(page, name).click();
  }
  await waitForValue(() => page.getByTestId('current-room-name').textContent(), name, {
    message: `#${name} to be the open room`,
  });
  await waitUntil(() => roomItem(page, name).getAttribute('data-current').then((v) => v === 'true'), {
    message: `#${name} marked current`,
  });
}

/** Joins a public room from the room browser (Part C), which opens it. */
export async function joinFromBrowser(page, name) {
  await page.getByTestId('browse-rooms-button').click();
  const dialog = page.getByTestId('room-browser');
  await dialog.locator(`[data-testid="browse-room"][data-room-name="${name}"]`).getByTestId('browse-join').click();
  // An unanswered join_room is asked again after the ack timeout.
  await expectCount(dialog, 0, { timeout: JOIN_WAIT_MS });
  await roomItem(page, name).waitFor({ state: 'attached' });
}

/**
 * Makes the page's user a member of a public room through the API, from inside
 * the page (same origin, its cookie), when the server has Part C membership and
 * they are not one yet; the room then appears in the sidebar by `room_added`.
 */
export async function becomeMember(page, name) {
  const joined = await page.evaluate(async (roomName) => {
    const me = await (await fetch('/api/me')).json().catch(() => null);
    const rooms = await (await fetch('/api/rooms')).json();
    const room = rooms.find((r) => r.room_name === roomName);
    if (!me || !room || room.is_member !== false) return false;
    const res = await fetch(`/api/rooms/${room.id}/members`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user_ids: [me.id] }),
    });
    if (!res.ok) throw new Error(`joining ${roomName}: HTTP ${res.status}`);
    return true;
  }, name);
  if (joined) await roomItem(page, name).waitFor({ state: 'attached' });
}

/** Leaves the open room through its details sheet and the confirmation. */
export async function leaveCurrentRoom(page) {
  await page.getByTestId('room-details-button').click();
  await page.getByTestId('room-details').getByTestId('leave-room-button').click();
  await page.getByTestId('confirm-leave-button').click();
  await expectCount(page.getByTestId('confirm-leave'), 0);
}

/** Types a message in the composer and presses Enter. */
export async function sendMessage(page, text) {
  const input = page.getByTestId('composer-input');
  await input.fill(text);
  await input.press('Enter');
}

/** Types a message, sends it, and waits until it is acknowledged exactly once. */
export async function sendAndConfirm(page, text) {
  await sendMessage(page, text);
  return expectDeliveredOnce(page, text);
}

/** "parley_session=<token>" of a browser context, for a Node Socket.IO client. */
export async function sessionCookie(context) {
  const c = (await context.cookies()).find((x) => x.name === 'parley_session');
  if (!c) throw new Error('no parley_session cookie in the browser context');
  return `${c.name}=${c.value}`;
}

// ------------------------------------------------------------------ harness

let userCounter = 0;

/** A username no other test of this process uses (3..=32 chars of [A-Za-z0-9_.-]). */
export function uniqueName(prefix = 'user') {
  userCounter += 1;
  const rand = Math.random().toString(36).slice(2, 7);
  return `${prefix}_${userCounter}_${rand}`.slice(0, 32);
}

/** What a test gets: the server, the browser, and helpers that open logged-in pages. */
class Harness {
  constructor(server, browser, title) {
    this.server = server;
    this.browser = browser;
    this.title = title;
    this.contexts = new Set();
    this.pageErrors = [];
    this.cspViolations = [];
    this.dialogs = [];
    this.consoleLines = [];
    /** Socket.IO frames and API requests of every page, for the failure report. */
    this.wireLog = [];
    this.started = Date.now();
    this.watched = new WeakSet();
  }

  get base() {
    return this.server.base;
  }

  /** Adds a line to the network log shown when the test fails. */
  note(text) {
    this.wireLog.push(`${String(Date.now() - this.started).padStart(6)} [test] ${text}`);
  }

  /** A new browser context (its own cookies and storage) with the guards attached. */
  async newContext({ viewport = DESKTOP, label = 'page', ...options } = {}) {
    const context = await this.browser.newContext({ viewport, ...options });
    this.contexts.add(context);
    context.on('close', () => this.contexts.delete(context));
    // CSP violations, reported from the page through a CDP binding (which the
    // page's own policy does not restrict), across navigations.
    await context.exposeBinding('__parleyCspViolation', (_source, v) => {
      this.cspViolations.push({ label, ...v });
    });
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__parleyCspViolation({
          directive: e.violatedDirective,
          blocked: e.blockedURI,
          source: `${e.sourceFile}:${e.lineNumber}`,
          sample: e.sample,
          url: document.location.href,
        });
      });
    });
    context.on('page', (page) => this.watch(page, label));
    return context;
  }

  watch(page, label) {
    if (this.watched.has(page)) return;
    this.watched.add(page);
    page.on('pageerror', (err) => this.pageErrors.push({ label, url: page.url(), message: String(err?.stack || err) }));
    page.on('dialog', (dialog) => {
      this.dialogs.push({ label, type: dialog.type(), message: dialog.message() });
      dialog.dismiss().catch(() => {});
    });
    const wire = (line) => {
      this.wireLog.push(`${String(Date.now() - this.started).padStart(6)} [${label}] ${line}`);
      if (this.wireLog.length > 2000) this.wireLog.splice(0, 500);
    };
    page.on('websocket', (ws) => {
      wire(`ws open ${ws.url().replace(this.base, '')}`);
      ws.on('framesent', (f) => wire(`ws > ${String(f.payload).slice(0, 160)}`));
      ws.on('framereceived', (f) => wire(`ws < ${String(f.payload).slice(0, 160)}`));
      ws.on('close', () => wire('ws closed'));
    });
    page.on('request', (req) => {
      const url = req.url().replace(this.base, '');
      if (url.startsWith('/api/') || url.startsWith('/socket.io/')) {
        wire(`http ${req.method()} ${url} ${(req.postData() ?? '').slice(0, 160)}`);
      }
    });
    page.on('requestfailed', (req) => wire(`http failed ${req.method()} ${req.url().replace(this.base, '')}: ${req.failure()?.errorText}`));
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) wire(`navigated to ${frame.url()}`);
    });
    page.on('response', (res) => {
      if (res.status() >= 400) this.consoleLines.push(`[${label}] HTTP ${res.status()} ${res.request().method()} ${res.url()}`);
    });
    page.on('console', (msg) => {
      const text = msg.text();
      this.consoleLines.push(`[${label}] ${msg.type()}: ${text}`);
      if (/Content Security Policy/i.test(text)) this.cspViolations.push({ label, console: text });
    });
  }

  /** A new page in a new context. */
  async newPage(options = {}) {
    const context = await this.newContext(options);
    const page = await context.newPage();
    this.watch(page, options.label ?? 'page');
    return { context, page };
  }

  /** Fills and submits the real /register form; resolves with the POST's response. */
  async registerThroughForm(page, { username, email, displayName = '', password = PASSWORD }) {
    await page.goto(`${this.base}/register`);
    await page.locator('#username').fill(username);
    await page.locator('#email').fill(email ?? `${username}@example.test`);
    await page.locator('#display_name').fill(displayName);
    await page.locator('#password').fill(password);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${this.base}/register` && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Create account' }).click(),
    ]);
    await page.waitForLoadState('domcontentloaded');
    return response;
  }

  /** Fills and submits the real /login form; resolves with the POST's response. */
  async loginThroughForm(page, { username, password = PASSWORD }) {
    if (!page.url().startsWith(`${this.base}/login`)) {
      await page.goto(`${this.base}/login`);
    }
    await page.locator('#username').fill(username);
    await page.locator('#password').fill(password);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${this.base}/login` && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Log in' }).click(),
    ]);
    await page.waitForLoadState('domcontentloaded');
    return response;
  }

  /**
   * A new user: a new context, registered (and so signed in) through
   * /register, with the chat page loaded and connected (General open).
   * `beforeLogin(context)` runs first (e.g. to install routes).
   */
  async newUser({ prefix = 'user', displayName, viewport = DESKTOP, beforeLogin, ...options } = {}) {
    const username = uniqueName(prefix);
    const label = displayName ?? username;
    const { context, page } = await this.newPage({ viewport, label, ...options });
    if (beforeLogin) await beforeLogin(context);
    // Registering signs the new person in and opens the chat (docs/protocol.md).
    const reg = await this.registerThroughForm(page, { username, displayName: displayName ?? '' });
    if (reg.status() !== 302 || new URL(page.url()).pathname !== '/') {
      throw new Error(`registering ${username}: HTTP ${reg.status()}, now at ${page.url()}`);
    }
    const user = { username, displayName: displayName || username, context, page };
    await waitForChatReady(page, user);
    return user;
  }

  /** Another page (tab) of an existing user's context, with the chat loaded. */
  async newTab(user) {
    const page = await user.context.newPage();
    this.watch(page, `${user.displayName} (tab)`);
    await page.goto(`${this.base}/`);
    await waitForChatReady(page, user);
    return page;
  }

  async screenshotAll(prefix) {
    mkdirSync(FAILURE_DIR, { recursive: true });
    let n = 0;
    for (const context of this.contexts) {
      for (const page of context.pages()) {
        n += 1;
        await page
          .screenshot({ path: path.join(FAILURE_DIR, `${prefix}-${n}.png`), timeout: 5000 })
          .catch(() => {});
      }
    }
  }

  /** Fails when a page threw, the CSP blocked something, or a dialog opened. */
  assertClean() {
    const problems = [];
    if (this.pageErrors.length) problems.push(`page errors: ${JSON.stringify(this.pageErrors, null, 2)}`);
    if (this.cspViolations.length) problems.push(`CSP violations: ${JSON.stringify(this.cspViolations, null, 2)}`);
    if (this.dialogs.length) problems.push(`dialogs opened: ${JSON.stringify(this.dialogs, null, 2)}`);
    if (problems.length) throw new Error(problems.join('\n'));
  }
}

/**
 * Waits until the chat page is usable: rooms listed, a room open, the socket
 * connected (connection_success put the user's name in the user menu), no
 * connection banner, and the open room joined with its history loaded
 * (`data-ready` on the message list: a reload or a reconnect no longer posts
 * a "… has joined the room" line to wait for). Deliberately not the user's own
 * presence dot: see the reload test in presence.test.js.
 */
export async function waitForChatReady(page, { username }) {
  // Attached, not visible: in the phone layout the room list is in the closed drawer.
  await page.getByTestId('room-item').first().waitFor({ state: 'attached', timeout: WAIT_MS });
  await page.getByTestId('composer-input').waitFor({ state: 'attached', timeout: WAIT_MS });
  await page.locator(`[title="Signed in as ${username}"]`).waitFor({ state: 'attached', timeout: WAIT_MS });
  const joinStarted = Date.now();
  // The open room is joined (a membership socket is subscribed at connect; a Part A
  // one acked its join_room) and its history loaded.
  await page
    .locator('[data-testid="message-list"][data-ready="true"]')
    .waitFor({ state: 'attached', timeout: JOIN_WAIT_MS });
  const joinMs = Date.now() - joinStarted;
  if (joinMs > 5000) {
    console.log(`NOTE: ${username}'s join took ${joinMs} ms: the server left join_room unanswered and the client asked again`);
  }
  await waitUntil(async () => (await page.getByTestId('connection-banner').count()) === 0, {
    message: 'no connection banner',
  });
}

/**
 * Defines a node:test test that gets a fresh server (started with `env`) and a
 * fresh Chromium. Afterwards: pages are checked for errors / CSP violations /
 * dialogs, the browser closed, and the server stopped with SIGTERM (it must exit
 * with code 0). On failure, screenshots of the open pages go to
 * artifacts/screenshots/failures/ and the server log is attached to the error.
 */
export function browserTest(name, options, fn) {
  if (typeof options === 'function') {
    fn = options;
    options = {};
  }
  const { env = {}, timeout = TEST_TIMEOUT_MS, todo } = options;
  return test(name, { timeout, todo }, async () => {
    const server = await ParleyServer.create(env);
    let browser;
    let harness;
    let failure;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      harness = new Harness(server, browser, name);
      await fn(harness);
      if (process.env.PARLEY_TRACE) console.log(harness.wireLog.join('\n'));
      harness.assertClean();
    } catch (err) {
      failure = err;
      const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
      await harness?.screenshotAll(slug).catch(() => {});
      const extra = [];
      if (harness?.consoleLines.length) extra.push(`browser console:\n  ${harness.consoleLines.slice(-40).join('\n  ')}`);
      if (harness?.wireLog.length) extra.push(`network (ms since start):\n${harness.wireLog.slice(-150).join('\n')}`);
      if (server.log()) extra.push(`server output:\n${server.log().slice(-4000)}`);
      if (extra.length) err.message += `\n--- ${extra.join('\n--- ')}`;
    } finally {
      await browser?.close().catch(() => {});
      const info = await server.destroy();
      if (!failure && (info.code !== 0 || info.signal)) {
        failure = new Error(
          `Parley did not exit cleanly on SIGTERM: code ${info.code}, signal ${info.signal}. Output:\n${server.log()}`,
        );
      }
      if (!failure && /panicked at/.test(server.log())) {
        failure = new Error(`Parley panicked. Output:\n${server.log()}`);
      }
    }
    if (failure) throw failure;
  });
}

/** Saves a screenshot of `page` as artifacts/screenshots/<file>. */
export async function saveScreenshot(page, file) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const target = path.join(SCREENSHOT_DIR, file);
  await page.screenshot({ path: target });
  return target;
}
