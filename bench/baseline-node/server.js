'use strict';

// Parley's chat protocol on the usual Node stack: Express + express-session
// (stored in MariaDB) + Socket.IO 4 + mysql2. One process.

const http = require('http');
const session = require('express-session');
const MySQLStore = require('express-mysql-session')(session);
const { Server } = require('socket.io');

const db = require('./src/db');
const { createStore } = require('./src/store');
const { createApp } = require('./src/http');
const { attachRealtime } = require('./src/realtime');

const PORT = Number(process.env.PORT || 5100);
const HOST = process.env.HOST || '127.0.0.1';
const DATABASE_URL = process.env.BASELINE_DATABASE_URL || 'mysql://parley:parley@127.0.0.1:3306/parley_baseline';
// A fixed default so that logins survive a restart (sessions live in the
// database, as Parley's do); set BASELINE_SESSION_SECRET anywhere that matters.
const SESSION_SECRET = process.env.BASELINE_SESSION_SECRET || 'parley-baseline-not-a-secret';
const SESSION_DAYS = 30;

async function main() {
  const pool = await db.connect(DATABASE_URL, { connectionLimit: 16 });
  const store = createStore(pool);

  const sessionStore = new MySQLStore(
    {
      createDatabaseTable: false, // created with the other tables in src/db.js
      expiration: SESSION_DAYS * 24 * 3600 * 1000,
      // Sessions have a fixed lifetime (as Parley's): no UPDATE on every request.
      disableTouch: true,
    },
    pool,
  );
  await sessionStore.onReady();

  const sessionMiddleware = session({
    name: 'parley_session',
    secret: SESSION_SECRET,
    store: sessionStore,
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', maxAge: SESSION_DAYS * 24 * 3600 * 1000 },
  });

  const deps = { store, sessionMiddleware, realtime: null };
  const app = createApp(deps);
  const server = http.createServer(app);
  const io = new Server(server, { maxHttpBufferSize: 64 * 1024 });
  deps.realtime = attachRealtime(io, deps);

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(PORT, HOST, resolve);
  });
  // The port bound (PORT=0: one the system chose); bench/run reads it here.
  console.log(`parley-baseline-node listening on http://${HOST}:${server.address().port}`);

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log('shutting down');
    io.close(() => {
      sessionStore.close().finally(() => pool.end().finally(() => process.exit(0)));
    });
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
