'use strict';

// Every SQL statement the server runs (besides the session store's).

const { errors } = require('./validate');

const isDuplicate = (err) => err && err.code === 'ER_DUP_ENTRY';

const MESSAGE_COLUMNS = `m.id, m.room_id, m.user_id, u.username, u.display_name, u.avatar_color,
  m.message, m.message_type, m.created_at, m.client_id`;

function messageView(row) {
  const m = {
    id: row.id,
    room_id: row.room_id,
    user_id: row.user_id,
    username: row.username,
    display_name: row.display_name,
    avatar_color: row.avatar_color,
    message: row.message,
    message_type: row.message_type,
    timestamp: row.created_at.toISOString(),
  };
  if (row.client_id != null) m.client_id = row.client_id;
  return m;
}

function roomView(row) {
  return {
    id: row.id,
    room_name: row.room_name,
    room_type: row.room_type,
    created_by: row.created_by,
    created_at: row.created_at.toISOString(),
  };
}

function createStore(pool) {
  return {
    async ping() {
      await pool.query('SELECT 1');
    },

    async createUser({ username, email, displayName, passwordHash, avatarColor }) {
      try {
        const [res] = await pool.execute(
          `INSERT INTO users (username, email, display_name, password_hash, avatar_color, created_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
          [username, email, displayName, passwordHash, avatarColor, new Date()],
        );
        return { id: res.insertId, username, display_name: displayName, avatar_color: avatarColor };
      } catch (err) {
        if (isDuplicate(err)) throw err.message.includes('users_email') ? errors.emailTaken() : errors.usernameTaken();
        throw err;
      }
    },

    // Case-insensitive through the column's collation.
    async userByUsername(username) {
      const [rows] = await pool.execute(
        'SELECT id, username, display_name, avatar_color, password_hash FROM users WHERE username = ?',
        [username],
      );
      return rows[0] || null;
    },

    async setLastSeen(userId, when) {
      await pool.execute('UPDATE users SET last_seen = ? WHERE id = ?', [when, userId]);
    },

    async rooms() {
      const [rows] = await pool.query(
        'SELECT id, room_name, room_type, created_by, created_at FROM rooms ORDER BY id',
      );
      return rows.map(roomView);
    },

    async room(id) {
      const [rows] = await pool.execute('SELECT id, room_name, room_type FROM rooms WHERE id = ?', [id]);
      return rows[0] || null;
    },

    async createRoom(name, userId) {
      try {
        const [res] = await pool.execute(
          "INSERT INTO rooms (room_name, room_type, created_by, created_at) VALUES (?, 'public', ?, ?)",
          [name, userId, new Date()],
        );
        return { id: res.insertId, room_name: name };
      } catch (err) {
        if (isDuplicate(err)) throw errors.roomNameTaken();
        throw err;
      }
    },

    // Stores a message (autocommit: committed when this resolves). A repeated
    // (user, client_id) stores nothing and returns the first message's id and
    // time with inserted = false.
    async insertMessage({ roomId, userId, message, clientId }) {
      const now = new Date();
      try {
        const [res] = await pool.execute(
          `INSERT INTO messages (room_id, user_id, message, message_type, client_id, created_at)
           VALUES (?, ?, ?, 'text', ?, ?)`,
          [roomId, userId, message, clientId, now],
        );
        return { id: res.insertId, createdAt: now, inserted: true };
      } catch (err) {
        if (!(clientId && isDuplicate(err))) throw err;
        const [rows] = await pool.execute(
          'SELECT id, created_at FROM messages WHERE user_id = ? AND client_id = ?',
          [userId, clientId],
        );
        if (!rows[0]) throw err;
        return { id: rows[0].id, createdAt: rows[0].created_at, inserted: false };
      }
    },

    // A page of history, oldest first.
    async messages(roomId, { before, after, limit }) {
      const base = `SELECT ${MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.user_id WHERE m.room_id = ?`;
      let rows;
      if (after !== undefined) {
        [rows] = await pool.execute(`${base} AND m.id > ? ORDER BY m.id ASC LIMIT ?`, [roomId, after, limit]);
      } else if (before !== undefined) {
        [rows] = await pool.execute(`${base} AND m.id < ? ORDER BY m.id DESC LIMIT ?`, [roomId, before, limit]);
        rows.reverse();
      } else {
        [rows] = await pool.execute(`${base} ORDER BY m.id DESC LIMIT ?`, [roomId, limit]);
        rows.reverse();
      }
      return rows.map(messageView);
    },
  };
}

module.exports = { createStore };
