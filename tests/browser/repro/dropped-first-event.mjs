// Server bug repro: an event sent right after the handshake can be dropped.
//
// socketioxide sends the CONNECT packet and then *spawns* Parley's async
// `on_connect` (src/realtime/handlers.rs), which is what registers the event
// handlers. An event that arrives before that task has run finds no handler (and
// no fallback) and is silently dropped: no ack, no chat_error, not handled. The
// web client emits `join_room` as soon as it is connected, so now and then a
// room is not joined after a (re)connect. Rare on an idle machine; under CPU
// load (run with `STRESS=3`) it shows up within a few hundred connections.
//
// usage: node repro/dropped-first-event.mjs [connections=400] [parallel=5]
import { io } from 'socket.io-client';
import { spawn } from 'node:child_process';
import { startServer, userCookie } from './common.mjs';

const N = Number(process.argv[2] || 400);
const PAR = Number(process.argv[3] || 5);
const burners = Array.from({ length: Number(process.env.STRESS || 0) }, () =>
  spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }),
);
const server = await startServer();
const cookie = await userCookie(server.base, 'repro_user');
let dropped = 0;
let total = 0;

async function one() {
  const s = io(server.base, { forceNew: true, reconnection: false, transports: ['websocket'], extraHeaders: { Cookie: cookie } });
  const joined = [];
  s.on('user_joined', (p) => joined.push(p));
  const answered = await new Promise((resolve) =>
    s.once('connect', () => {
      // Exactly what the web client does on `connect`.
      s.timeout(3000)
        .emitWithAck('join_room', { room_id: 1, room_name: 'General' })
        .then(() => resolve(true), () => resolve(false));
    }),
  );
  total += 1;
  if (!answered) {
    dropped += 1;
    const userJoinedBefore = joined.length;
    const again = await s.timeout(3000).emitWithAck('join_room', { room_id: 1, room_name: 'General' }).then(JSON.stringify, (e) => e.message);
    console.log(
      `dropped: join_room sent on 'connect' got no ack within 3 s and no user_joined (${userJoinedBefore}); ` +
        `the same join_room sent again: ${again}`,
    );
  }
  s.disconnect();
}

for (let i = 0; i < N / PAR; i++) await Promise.all(Array.from({ length: PAR }, one));
for (const b of burners) b.kill();
await server.stop();
console.log(`${dropped}/${total} join_room events sent on 'connect' were dropped`);
process.exitCode = dropped ? 1 : 0;
