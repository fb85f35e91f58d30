-- Team conversations (issue 15, docs/protocol.md Part C): lasting membership,
-- private and direct rooms, roles, deactivation, settings and invites.
ALTER TABLE users ADD COLUMN deactivated_at INTEGER;

ALTER TABLE rooms ADD COLUMN topic TEXT NOT NULL DEFAULT '';
ALTER TABLE rooms ADD COLUMN archived_at INTEGER;
-- A direct room is found by its set of members (sorted ids); NULL for the others.
ALTER TABLE rooms ADD COLUMN direct_key TEXT;
CREATE UNIQUE INDEX rooms_direct_key ON rooms (direct_key);

-- A member's notification level belongs to the attention issue; the column waits for it.
ALTER TABLE room_members ADD COLUMN notify TEXT;

-- One row per setting an admin changed; an absent row is the default.
CREATE TABLE server_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Only a hash of the invite code is kept.
CREATE TABLE invites (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    code_hash  BLOB    NOT NULL UNIQUE,
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    max_uses   INTEGER NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0,
    revoked_at INTEGER
);

-- Membership used to end with the socket: every existing user becomes a
-- member of General, and every room's creator its owner.
INSERT OR IGNORE INTO room_members (room_id, user_id, role, joined_at)
    SELECT r.id, u.id, 'member', u.created_at FROM rooms r CROSS JOIN users u WHERE r.room_name_folded = 'general';
INSERT OR IGNORE INTO room_members (room_id, user_id, role, joined_at)
    SELECT id, created_by, 'owner', created_at FROM rooms
    WHERE created_by IS NOT NULL AND room_type IN ('public', 'private');
UPDATE room_members SET role = 'owner'
    WHERE EXISTS (SELECT 1 FROM rooms r WHERE r.id = room_members.room_id AND r.created_by = room_members.user_id
                  AND r.room_type IN ('public', 'private'));

-- The first account is the admin of an install that has none.
UPDATE users SET role = 'admin'
    WHERE id = (SELECT MIN(id) FROM users) AND NOT EXISTS (SELECT 1 FROM users WHERE role = 'admin');
