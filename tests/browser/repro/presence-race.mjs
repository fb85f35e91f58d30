// Server bug repro: a reconnecting user (a page reload) can end up shown offline.
//
// Chat::close_connection (src/chat/presence.rs) decides "this was the user's last
// connection" under the registry lock, then awaits the last_seen write, and only
// then publishes `presence {is_online: false}`. A new connection of the same user
// that opens in between publishes `presence {is_online: true}` first, so every
// client receives online → offline and shows a connected user as offline
// (GET /api/online-users still lists them).
//
// usage: node repro/presence-race.mjs [rounds=40]
import { io } from 'socket.io-client';
import { sleep, startServer, userCookie } from './common.mjs';

const ROUNDS = Number(process.argv[2] || 40);
const server = await startServer();
const connect = (cookie) =>
  new Promise((resolve, reject) => {
    const s = io(server.base, { transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: { Cookie: cookie } });
    s.once('connection_success', () => resolve(s));
    s.once('connect_error', reject);
  });
const x = await userCookie(server.base, 'reloading_user');
const y = await userCookie(server.base, 'observer');
const observer = await connect(y);
const events = [];
observer.on('presence', (p) => p.username === 'reloading_user' && events.push(p.is_online));

let wrong = 0;
let shown = true;
let sock = await connect(x);
for (let i = 0; i < ROUNDS; i++) {
  sock.disconnect(); // the old page goes away...
  sock = await connect(x); // ...and the reloaded page connects right away
  await sleep(150);
  const online = (await (await fetch(`${server.base}/api/online-users`, { headers: { Cookie: y } })).json()).some(
    (u) => u.username === 'reloading_user',
  );
  const round = events.splice(0);
  if (round.length) shown = round.at(-1);
  if (shown !== true) {
    wrong += 1;
    console.log(`round ${i}: connected (GET /api/online-users: ${online}), but the last presence event said is_online=${shown}; this round's presence events, in order: ${JSON.stringify(round)}`);
  }
}
observer.disconnect();
sock.disconnect();
await server.stop();
console.log(`${wrong}/${ROUNDS} reconnects left the observer showing a connected user as offline`);
process.exitCode = wrong ? 1 : 0;
