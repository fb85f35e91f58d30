-- Parley's schema on SQLite. Times are milliseconds since the Unix epoch (UTC).
-- Case-insensitive uniqueness is kept in *_folded columns, so every backend
-- agrees on it without relying on a collation.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT    NOT NULL,
    username_folded TEXT    NOT NULL UNIQUE,
    email           TEXT    NOT NULL,
    email_folded    TEXT    NOT NULL UNIQUE,
    display_name    TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,
    avatar_color    TEXT    NOT NULL,
    role            TEXT    NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'moderator', 'member')),
    created_at      INTEGER NOT NULL,
    last_seen       INTEGER
);

-- Only a hash of the session token is kept: a leaked database holds no usable cookie.
CREATE TABLE sessions (
    token_hash BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE rooms (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    room_name        TEXT    NOT NULL,
    room_name_folded TEXT    NOT NULL UNIQUE,
    room_type        TEXT    NOT NULL DEFAULT 'public' CHECK (room_type IN ('public', 'private', 'direct')),
    created_by       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at       INTEGER NOT NULL
);

-- Membership with a role, for invite-only rooms and unread counts later.
CREATE TABLE room_members (
    room_id      INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT    NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    joined_at    INTEGER NOT NULL,
    last_read_id INTEGER,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX room_members_by_user ON room_members (user_id);

CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id      INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    message      TEXT    NOT NULL,
    message_type TEXT    NOT NULL DEFAULT 'text' CHECK (message_type IN ('text', 'system')),
    client_id    TEXT,
    parent_id    INTEGER REFERENCES messages (id),
    edited_at    INTEGER,
    deleted_at   INTEGER,
    created_at   INTEGER NOT NULL
);
-- History and catch-up read a room by id range.
CREATE INDEX messages_by_room ON messages (room_id, id);
-- A retried send (same user, same client_id) finds the first one.
CREATE UNIQUE INDEX messages_by_client_id ON messages (user_id, client_id) WHERE client_id IS NOT NULL;

INSERT INTO rooms (room_name, room_name_folded, room_type, created_at) VALUES
    ('General', 'general', 'public', CAST(strftime('%s', 'now') AS INTEGER) * 1000),
    ('Technology', 'technology', 'public', CAST(strftime('%s', 'now') AS INTEGER) * 1000),
    ('Random', 'random', 'public', CAST(strftime('%s', 'now') AS INTEGER) * 1000);
