'use strict';

const path = require('path');
const { promisify } = require('util');
const express = require('express');
const bcrypt = require('bcryptjs');

const v = require('./validate');
const { ChatError, errors } = v;
const { loginPage, registerPage } = require('./pages');

const BCRYPT_ROUNDS = 10;
const INDEX_HTML = path.join(__dirname, '..', 'public', 'index.html');

const userView = (u) => ({ id: u.id, username: u.username, display_name: u.display_name, avatar_color: u.avatar_color });

function pathRoomId(raw) {
  if (!/^\d{1,15}$/.test(raw) || Number(raw) < 1) throw errors.roomNotFound();
  return Number(raw);
}

function createApp(deps) {
  const { store, sessionMiddleware } = deps;

  // ---- accounts ------------------------------------------------------------

  async function register(body) {
    const username = v.username(body.username);
    const email = v.email(body.email);
    const displayName = v.displayName(body.display_name, username);
    const password = v.password(body.password);
    const passwordHash = await bcrypt.hash(password, BCRYPT_ROUNDS);
    return store.createUser({ username, email, displayName, passwordHash, avatarColor: v.avatarColor(username) });
  }

  async function checkPassword(body) {
    const { username, password } = body;
    if (typeof username !== 'string' || typeof password !== 'string') throw errors.invalidCredentials();
    const user = await store.userByUsername(username.trim());
    if (!user || !(await bcrypt.compare(password, user.password_hash))) throw errors.invalidCredentials();
    return userView(user);
  }

  // A fresh session id on login (no session fixation), then the user in it.
  async function logIn(req, user) {
    await promisify(req.session.regenerate).call(req.session);
    req.session.user = user;
    await promisify(req.session.save).call(req.session);
  }

  async function logOut(req) {
    const sid = req.sessionID;
    if (req.session && req.session.user) {
      await promisify(req.session.destroy).call(req.session);
      deps.realtime.endSession(sid);
    }
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // ---- operations (no session needed) ---------------------------------------

  app.get('/healthz', (req, res) => res.type('text').send('ok'));
  app.get('/readyz', async (req, res) => {
    try {
      await store.ping();
      res.type('text').send('ready');
    } catch {
      res.status(503).type('text').send('database unreachable');
    }
  });

  app.use(sessionMiddleware);

  // ---- pages ----------------------------------------------------------------

  const form = express.urlencoded({ extended: false, limit: '64kb' });

  app.get('/', (req, res) => {
    if (!req.session.user) return res.redirect('/login');
    res.sendFile(INDEX_HTML);
  });

  app.get('/login', (req, res) => res.send(loginPage()));
  app.post('/login', form, async (req, res) => {
    const body = req.body || {};
    try {
      await logIn(req, await checkPassword(body));
      res.redirect('/');
    } catch (err) {
      if (!(err instanceof ChatError)) throw err;
      res.status(err.status).send(loginPage({ error: err.message, username: body.username }));
    }
  });

  app.get('/register', (req, res) => res.send(registerPage()));
  app.post('/register', form, async (req, res) => {
    const body = req.body || {};
    try {
      await register(body);
      res.redirect('/login');
    } catch (err) {
      if (!(err instanceof ChatError)) throw err;
      res.status(err.status).send(registerPage({ error: err.message, ...body }));
    }
  });

  app.get('/logout', async (req, res) => {
    await logOut(req);
    res.clearCookie('parley_session', { path: '/' });
    res.redirect('/login');
  });

  // ---- JSON API ---------------------------------------------------------------

  const api = express.Router();
  api.use(express.json({ limit: '64kb' }));

  const jsonBody = (req) => {
    if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) {
      throw errors.invalid('the body must be a JSON object');
    }
    return req.body;
  };

  api.post('/register', async (req, res) => {
    const user = await register(jsonBody(req));
    res.status(201).json(user);
  });

  api.post('/login', async (req, res) => {
    const user = await checkPassword(jsonBody(req));
    await logIn(req, user);
    res.json(user);
  });

  api.post('/logout', async (req, res) => {
    await logOut(req);
    res.clearCookie('parley_session', { path: '/' });
    res.status(204).end();
  });

  // Everything below needs a session.
  api.use((req, res, next) => next(req.session.user ? undefined : errors.notAuthenticated()));

  api.get('/me', (req, res) => res.json(req.session.user));

  api.get('/rooms', async (req, res) => {
    res.json(await store.rooms());
  });

  api.get('/messages/:room_id', async (req, res) => {
    const roomId = pathRoomId(req.params.room_id);
    const page = v.page(req.query);
    if (!(await store.room(roomId))) throw errors.roomNotFound();
    res.json(await store.messages(roomId, page));
  });

  api.get('/online-users', (req, res) => {
    res.json(deps.realtime.onlineUsers());
  });

  api.get('/online-users/:room_id', async (req, res) => {
    const roomId = pathRoomId(req.params.room_id);
    if (!(await store.room(roomId))) throw errors.roomNotFound();
    res.json(deps.realtime.onlineInRoom(roomId));
  });

  api.use((req, res) => res.status(404).json({ error: { code: 'not_found', message: 'No such API route' } }));

  // Every API error is JSON: {error: {code, message}}.
  // eslint-disable-next-line no-unused-vars
  api.use((err, req, res, next) => {
    let e = err;
    if (err.type === 'entity.parse.failed') e = errors.invalid('the body is not valid JSON');
    else if (err.type === 'entity.too.large') e = new ChatError('payload_too_large', 'The request is too large', 413);
    else if (!(err instanceof ChatError)) {
      console.error('api error:', err);
      e = errors.internal();
    }
    res.status(e.status).json({ error: { code: e.code, message: e.message } });
  });

  app.use('/api', api);

  return app;
}

module.exports = { createApp };
