'use strict';

// Socket.IO: handshake auth from the express-session, the chat events, presence.

const v = require('./validate');
const { ChatError, errors } = v;

const roomKey = (id) => `room:${id}`;
const sessionKey = (sid) => `session:${sid}`;

const userView = (u) => ({ id: u.id, username: u.username, display_name: u.display_name, avatar_color: u.avatar_color });
const presenceOf = (u, isOnline, lastSeen) => ({
  user_id: u.id,
  username: u.username,
  display_name: u.display_name,
  avatar_color: u.avatar_color,
  is_online: isOnline,
  last_seen: lastSeen,
});

const KNOWN_EVENTS = new Set(['join_room', 'leave_room', 'send_message', 'typing', 'create_room']);

// Runs the session middleware on the handshake request only, not on every
// HTTP long-polling request (the pattern from the Socket.IO docs).
function onlyForHandshake(middleware) {
  return (req, res, next) => {
    const isHandshake = req._query.sid === undefined;
    if (isHandshake) middleware(req, res, next);
    else next();
  };
}

function attachRealtime(io, { store, sessionMiddleware }) {
  // userId -> { user, sockets }: a user is online while they have a socket.
  const online = new Map();

  io.engine.use(onlyForHandshake(sessionMiddleware));

  io.use((socket, next) => {
    const user = socket.request.session && socket.request.session.user;
    if (!user) {
      const err = new Error('You are not logged in');
      err.data = { code: 'not_authenticated' };
      return next(err);
    }
    socket.data.user = user;
    next();
  });

  io.on('connection', (socket) => {
    const user = socket.data.user;
    socket.join(sessionKey(socket.request.sessionID));

    let entry = online.get(user.id);
    if (!entry) online.set(user.id, (entry = { user, sockets: 0 }));
    if (++entry.sockets === 1) io.emit('presence', presenceOf(user, true, null));
    socket.emit('connection_success', { user_id: user.id, username: user.username, display_name: user.display_name });

    // A rejected event: the error goes in the ack if there is one, otherwise
    // as chat_error to this socket.
    const fail = (event, err, ack) => {
      if (!(err instanceof ChatError)) {
        console.error(`${event} failed:`, err);
        err = errors.internal();
      }
      const error = { code: err.code, message: err.message };
      if (ack) ack({ ok: false, error });
      else socket.emit('chat_error', { event, ...error });
    };

    // Events of one socket are handled one after another, in arrival order,
    // so that e.g. join_room followed at once by send_message works.
    let queue = Promise.resolve();
    const on = (event, handler) => {
      socket.on(event, (...args) => {
        const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
        const data = args[0];
        queue = queue
          .then(() => handler(data))
          .then(
            (result) => ack && ack({ ok: true, ...result }),
            (err) => fail(event, err, ack),
          );
      });
    };

    on('join_room', async (data) => {
      const roomId = v.roomId(v.payloadObject(data).room_id);
      const room = await store.room(roomId);
      if (!room) throw errors.roomNotFound();
      const key = roomKey(roomId);
      if (socket.connected && !socket.rooms.has(key)) {
        socket.join(key);
        io.to(key).emit('user_joined', {
          room_id: roomId,
          username: user.username,
          display_name: user.display_name,
          message: `${user.display_name} has joined the room`,
        });
      }
      return { room_id: room.id, room_name: room.room_name };
    });

    on('leave_room', async (data) => {
      const roomId = v.roomId(v.payloadObject(data).room_id);
      const key = roomKey(roomId);
      if (!socket.rooms.has(key)) throw errors.notInRoom();
      socket.leave(key);
      socket.to(key).emit('user_left_room', {
        room_id: roomId,
        username: user.username,
        display_name: user.display_name,
        message: `${user.display_name} has left the room`,
      });
      return {};
    });

    on('send_message', async (data) => {
      const p = v.payloadObject(data);
      const roomId = v.roomId(p.room_id);
      const message = v.messageBody(p.message);
      const clientId = v.clientId(p.client_id);
      const key = roomKey(roomId);
      if (!socket.rooms.has(key)) throw errors.notInRoom();

      const stored = await store.insertMessage({ roomId, userId: user.id, message, clientId });
      const timestamp = stored.createdAt.toISOString();
      if (stored.inserted) {
        const payload = {
          id: stored.id,
          room_id: roomId,
          user_id: user.id,
          username: user.username,
          display_name: user.display_name,
          avatar_color: user.avatar_color,
          message,
          message_type: 'text',
          timestamp,
        };
        if (clientId !== null) payload.client_id = clientId;
        io.to(key).emit('new_message', payload);
      }
      return { id: stored.id, timestamp };
    });

    on('typing', async (data) => {
      const p = v.payloadObject(data);
      const roomId = v.roomId(p.room_id);
      if (typeof p.is_typing !== 'boolean') throw errors.invalid('is_typing must be true or false');
      const key = roomKey(roomId);
      if (!socket.rooms.has(key)) throw errors.notInRoom();
      socket.to(key).emit('user_typing', {
        room_id: roomId,
        username: user.username,
        display_name: user.display_name,
        is_typing: p.is_typing,
      });
      return {};
    });

    on('create_room', async (data) => {
      try {
        const name = v.roomName(v.payloadObject(data).room_name);
        const room = await store.createRoom(name, user.id);
        io.emit('room_created', { room_id: room.id, room_name: room.room_name });
        return { room_id: room.id, room_name: room.room_name };
      } catch (err) {
        // Part A's own error event, sent whether or not there is an ack.
        const message = err instanceof ChatError ? err.message : errors.internal().message;
        socket.emit('room_creation_error', { error: message });
        throw err;
      }
    });

    socket.onAny((event, ...args) => {
      if (KNOWN_EVENTS.has(event)) return;
      const ack = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : null;
      const name = String(event).slice(0, 64);
      fail(name, errors.unknownEvent(name), ack);
    });

    socket.on('disconnect', async () => {
      const current = online.get(user.id);
      if (!current || --current.sockets > 0) return;
      online.delete(user.id);
      const now = new Date();
      try {
        await store.setLastSeen(user.id, now);
      } catch (err) {
        console.error('could not record last_seen:', err.message);
      }
      if (!online.has(user.id)) io.emit('presence', presenceOf(user, false, now.toISOString()));
    });
  });

  return {
    // Everyone online, each once, in id order.
    onlineUsers() {
      return [...online.values()].map((e) => userView(e.user)).sort((a, b) => a.id - b.id);
    },

    // The users with a socket in the room, each once, in id order.
    onlineInRoom(roomId) {
      const sids = io.of('/').adapter.rooms.get(roomKey(roomId));
      const users = new Map();
      for (const sid of sids || []) {
        const s = io.of('/').sockets.get(sid);
        if (s && !users.has(s.data.user.id)) users.set(s.data.user.id, userView(s.data.user));
      }
      return [...users.values()].sort((a, b) => a.id - b.id);
    },

    // After logout: close every socket opened with that session.
    endSession(sid) {
      io.in(sessionKey(sid)).disconnectSockets(true);
    },
  };
}

module.exports = { attachRealtime };
