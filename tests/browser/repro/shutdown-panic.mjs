// Server bug repro: SIGTERM while sockets are still connecting.
//
// App::run (src/app.rs) disconnects the sockets in `io.sockets()`, waits for
// `drained`, then `io.close()` drops the namespaces and `disconnect_all` runs.
// A socket whose handshake is still in flight is not in `io.sockets()` yet:
// - it is never told goodbye, so `drained` waits its full 5 s
//   ("shutdown: connections still open");
// - anything that publishes after `io.close()` (its on_connect presence, or
//   disconnect_all's presence change) goes through SocketNotifier::publish →
//   `io.sockets()`, and socketioxide panics: "default namespace not found"
//   (socketioxide io.rs:711). The process still exits 0.
//
// usage: node repro/shutdown-panic.mjs [rounds=10]
import { io } from 'socket.io-client';
import { sleep, startServer, userCookie } from './common.mjs';

const ROUNDS = Number(process.argv[2] || 10);
let hits = 0;
for (let r = 0; r < ROUNDS; r++) {
  const server = await startServer();
  const cookie = await userCookie(server.base, 'repro_user');
  const sockets = Array.from({ length: 30 }, () =>
    io(server.base, { forceNew: true, reconnection: false, transports: ['websocket'], extraHeaders: { Cookie: cookie } }),
  );
  await sleep(Math.random() * 30);
  const started = Date.now();
  const info = await server.stop();
  for (const s of sockets) s.disconnect();
  const out = server.output();
  const panicked = /panicked at/.test(out);
  if (panicked || /connections still open/.test(out)) {
    hits += 1;
    console.log(
      `round ${r}: exit ${JSON.stringify(info)} after ${Date.now() - started} ms; ` +
        (out.match(/(shutdown: connections still open.*|panicked at.*\n.*)/g) ?? []).join(' | ').replace(/\x1b\[[0-9;]*m/g, ''),
    );
  }
}
console.log(`${hits}/${ROUNDS} shutdowns left a connection behind (waited 5 s) or panicked`);
process.exitCode = hits ? 1 : 0;
