'use strict';

const mysql = require('mysql2/promise');

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS users (
     id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
     username      VARCHAR(32)  NOT NULL,
     email         VARCHAR(254) NOT NULL,
     display_name  VARCHAR(64)  NOT NULL,
     password_hash VARCHAR(255) NOT NULL,
     avatar_color  VARCHAR(16)  NOT NULL,
     created_at    DATETIME(3)  NOT NULL,
     last_seen     DATETIME(3)  NULL,
     UNIQUE KEY users_username (username),
     UNIQUE KEY users_email (email)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  // The session store's table, as express-mysql-session creates it.
  `CREATE TABLE IF NOT EXISTS sessions (
     session_id VARCHAR(128) COLLATE utf8mb4_bin NOT NULL,
     expires    INT(11) UNSIGNED NOT NULL,
     data       MEDIUMTEXT COLLATE utf8mb4_bin,
     PRIMARY KEY (session_id)
   ) ENGINE=InnoDB`,
  `CREATE TABLE IF NOT EXISTS rooms (
     id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
     room_name  VARCHAR(50) NOT NULL,
     room_type  VARCHAR(16) NOT NULL DEFAULT 'public',
     created_by BIGINT      NULL,
     created_at DATETIME(3) NOT NULL,
     UNIQUE KEY rooms_room_name (room_name),
     CONSTRAINT rooms_creator FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  `CREATE TABLE IF NOT EXISTS messages (
     id           BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
     room_id      BIGINT      NOT NULL,
     user_id      BIGINT      NOT NULL,
     message      TEXT        NOT NULL,
     message_type VARCHAR(16) NOT NULL DEFAULT 'text',
     client_id    VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
     created_at   DATETIME(3) NOT NULL,
     KEY messages_room_id (room_id, id),
     UNIQUE KEY messages_client_id (user_id, client_id),
     CONSTRAINT messages_room FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
     CONSTRAINT messages_user FOREIGN KEY (user_id) REFERENCES users (id)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
];

const SEED_ROOMS = ['General', 'Technology', 'Random'];

// Creates the database (if missing), the tables (if missing) and the seed
// rooms (on an empty rooms table); returns a pool on that database.
async function connect(databaseUrl, { connectionLimit = 16 } = {}) {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) throw new Error('the database URL must name a database');
  const server = {
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };

  const admin = await mysql.createConnection(server);
  try {
    await admin.query(
      `CREATE DATABASE IF NOT EXISTS ${mysql.escapeId(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } finally {
    await admin.end();
  }

  const pool = mysql.createPool({
    ...server,
    database,
    connectionLimit,
    maxIdle: connectionLimit,
    waitForConnections: true,
    charset: 'utf8mb4_unicode_ci',
    timezone: 'Z', // DATETIME columns hold UTC
  });

  for (const sql of SCHEMA) await pool.query(sql);
  const [[{ n }]] = await pool.query('SELECT COUNT(*) AS n FROM rooms');
  if (n === 0) {
    const now = new Date();
    await pool.query('INSERT INTO rooms (room_name, room_type, created_at) VALUES ?', [
      SEED_ROOMS.map((name) => [name, 'public', now]),
    ]);
  }
  return pool;
}

module.exports = { connect };
