-- Team conversations (issue 15, docs/protocol.md Part C): lasting membership,
-- private and direct rooms, roles, deactivation, settings and invites.
ALTER TABLE users ADD COLUMN deactivated_at BIGINT NULL;

-- A direct room's name is its members' usernames joined by ", " (up to 9 of
-- 32 characters), longer than the 255 a typed name needs.
ALTER TABLE rooms
    MODIFY room_name VARCHAR(512) NOT NULL,
    ADD COLUMN topic VARCHAR(1024) NOT NULL DEFAULT '',
    ADD COLUMN archived_at BIGINT NULL,
    -- A direct room is found by its set of members (sorted ids); NULL for the others.
    ADD COLUMN direct_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    ADD CONSTRAINT rooms_direct_key UNIQUE (direct_key);

-- A member's notification level belongs to the attention issue; the column waits for it.
ALTER TABLE room_members ADD COLUMN notify VARCHAR(16) NULL;

-- One row per setting an admin changed; an absent row is the default.
CREATE TABLE server_settings (
    name  VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    value TEXT        NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Only a hash of the invite code is kept.
CREATE TABLE invites (
    id         BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    code_hash  VARBINARY(32) NOT NULL,
    created_by BIGINT        NULL,
    created_at BIGINT        NOT NULL,
    expires_at BIGINT        NOT NULL,
    max_uses   INT           NOT NULL,
    uses       INT           NOT NULL DEFAULT 0,
    revoked_at BIGINT        NULL,
    CONSTRAINT invites_code_hash UNIQUE (code_hash),
    CONSTRAINT invites_creator FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL
) ENGINE = InnoDB;

-- Membership used to end with the socket: every existing user becomes a
-- member of General, and every room's creator its owner.
INSERT IGNORE INTO room_members (room_id, user_id, role, joined_at)
    SELECT r.id, u.id, 'member', u.created_at FROM rooms r CROSS JOIN users u WHERE r.room_name_folded = 'general';
INSERT INTO room_members (room_id, user_id, role, joined_at)
    SELECT id, created_by, 'owner', created_at FROM rooms
    WHERE created_by IS NOT NULL AND room_type IN ('public', 'private')
    ON DUPLICATE KEY UPDATE role = 'owner';

-- The first account is the admin of an install that has none (through a
-- derived table: MySQL cannot read the table an UPDATE writes).
UPDATE users SET role = 'admin'
    WHERE id = (SELECT first_id FROM (SELECT MIN(id) AS first_id FROM users
                                      WHERE NOT EXISTS (SELECT 1 FROM users WHERE role = 'admin')) AS first_user);
