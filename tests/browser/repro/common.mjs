// Shared by the repro scripts: start a Parley binary on a free port with a fresh
// database, and make users over the JSON API.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PARLEY_BIN = process.env.PARLEY_BIN
  ? path.resolve(process.env.PARLEY_BIN)
  : path.resolve(here, '../../../target/debug/parley');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function startServer(env = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'parley-repro-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let output = '';
  const child = spawn(PARLEY_BIN, [], {
    env: { ...process.env, PARLEY_BIND: `127.0.0.1:${port}`, DATABASE_URL: `sqlite:${dir}/parley.db`, PARLEY_LOG: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  for (;;) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // not yet
    }
    await sleep(50);
  }
  return {
    base,
    output: () => output,
    async stop() {
      child.kill('SIGTERM');
      const info = await exited;
      rmSync(dir, { recursive: true, force: true });
      return info;
    },
  };
}

/** Registers and logs in a user; resolves with "parley_session=<token>". */
export async function userCookie(base, username) {
  const json = { 'content-type': 'application/json' };
  const password = 'correct horse battery';
  await fetch(`${base}/api/register`, { method: 'POST', headers: json, body: JSON.stringify({ username, email: `${username}@example.test`, password }) });
  const res = await fetch(`${base}/api/login`, { method: 'POST', headers: json, body: JSON.stringify({ username, password }) });
  return res.headers.getSetCookie().find((c) => c.startsWith('parley_session=')).split(';')[0];
}
