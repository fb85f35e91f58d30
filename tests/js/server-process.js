// Starts the parley binary as a process and learns its address from its log:
// the one way the JS suites (tests/js, tests/browser) start a server.
//
// The server binds a port the system chooses (PARLEY_BIND=127.0.0.1:0) and
// logs it ("Parley is listening address=127.0.0.1:<port>"). A port picked
// free here and handed over could be taken by another process in between,
// and that process would then answer in the server's place. Only a restart
// names its port again (the clients must find the server where it was).
//
// Node's built-in modules only, so that every suite may import it.

import { spawn } from 'node:child_process';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const ANSI = /\x1b\[[0-9;]*m/g;
const LISTENING = /Parley is listening.*?\b127\.0\.0\.1:(\d+)/;

/**
 * Spawns `bin` and resolves once it logged its address and `readyPath`
 * answers 200, with {child, port, base, exited, log}: `exited` resolves with
 * the exit {code, signal}, `log()` is the last 64 KiB of its output.
 *
 * Options: `env` (added to this process's), `cwd`, `port` (0: the system
 * chooses; a number: that port, for a restart), `readyPath` ('/healthz'),
 * `timeoutMs` (10 s, for the address and for readiness each).
 * Rejects, with the output, when the process exits or the time runs out first
 * (the process is then killed).
 */
export async function spawnParley(bin, { env = {}, cwd, port = 0, readyPath = '/healthz', timeoutMs = 10_000 } = {}) {
  const child = spawn(bin, [], {
    cwd,
    env: {
      ...process.env,
      ...env,
      PARLEY_BIND: `127.0.0.1:${port}`,
      // The address is read from this info line of the `parley` target, in
      // the text format.
      PARLEY_LOG: env.PARLEY_LOG ? `${env.PARLEY_LOG},parley=info` : 'warn,parley=info',
      PARLEY_LOG_FORMAT: 'text',
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let output = '';
  let pending = '';
  let found;
  const address = new Promise((resolve) => {
    found = resolve;
  });
  const keep = (chunk) => {
    output += chunk.toString();
    if (output.length > 64 * 1024) output = output.slice(-64 * 1024);
  };
  child.stdout.on('data', (chunk) => {
    keep(chunk);
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) {
      const m = LISTENING.exec(line.replace(ANSI, ''));
      if (m) found(Number(m[1]));
    }
  });
  child.stderr.on('data', keep);

  let exitInfo = null;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  const fail = async (why) => {
    if (!exitInfo) {
      child.kill('SIGKILL');
      await exited;
    }
    throw new Error(`${why}. Output:\n${output}`);
  };

  let timer;
  const bound = await Promise.race([
    address,
    exited.then(() => null),
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (bound === null) {
    await fail(
      exitInfo
        ? `Parley exited during start (code ${exitInfo.code}, signal ${exitInfo.signal})`
        : `Parley did not log its address within ${timeoutMs} ms`,
    );
  }
  if (port !== 0 && bound !== port) await fail(`Parley was asked for port ${port} and bound ${bound}`);

  const base = `http://127.0.0.1:${bound}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitInfo) await fail(`Parley exited during start (code ${exitInfo.code}, signal ${exitInfo.signal})`);
    try {
      const res = await fetch(`${base}${readyPath}`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not answering yet
    }
    if (Date.now() > deadline) await fail(`Parley did not answer GET ${readyPath} with 200 within ${timeoutMs} ms`);
    await sleep(50);
  }
  return { child, port: bound, base, exited, log: () => output };
}

/**
 * Stops a process started by spawnParley as a deploy does: SIGTERM, then
 * SIGKILL after `graceMs`. Resolves with the exit {code, signal} (a signal
 * that says so when it had to be killed).
 */
export async function terminate({ child, exited }, graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(null), graceMs);
  });
  const info = await Promise.race([exited, timeout]);
  clearTimeout(timer);
  if (info) return info;
  child.kill('SIGKILL');
  await exited;
  return { code: null, signal: `SIGKILL (did not exit within ${graceMs / 1000} s of SIGTERM)` };
}
