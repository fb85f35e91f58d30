-- Parley's schema on MySQL / MariaDB (InnoDB, utf8mb4). Times are milliseconds
-- since the Unix epoch (UTC), as on every backend. The *_folded columns hold
-- the case-folded names that uniqueness is checked on; they compare
-- byte-for-byte (utf8mb4_bin), so the rule is Parley's, not the collation's.

CREATE TABLE users (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username        VARCHAR(32)  NOT NULL,
    username_folded VARCHAR(32)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    email           VARCHAR(254) NOT NULL,
    email_folded    VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    display_name    VARCHAR(255) NOT NULL,
    password_hash   VARCHAR(255) NOT NULL,
    avatar_color    VARCHAR(16)  NOT NULL,
    role            VARCHAR(16)  NOT NULL DEFAULT 'member',
    created_at      BIGINT       NOT NULL,
    last_seen       BIGINT       NULL,
    CONSTRAINT users_username_folded UNIQUE (username_folded),
    CONSTRAINT users_email_folded UNIQUE (email_folded),
    CONSTRAINT users_role CHECK (role IN ('admin', 'moderator', 'member'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE sessions (
    token_hash VARBINARY(32) NOT NULL PRIMARY KEY,
    user_id    BIGINT        NOT NULL,
    created_at BIGINT        NOT NULL,
    expires_at BIGINT        NOT NULL,
    KEY sessions_by_user (user_id),
    CONSTRAINT sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB;

CREATE TABLE rooms (
    id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    room_name        VARCHAR(255) NOT NULL,
    room_name_folded VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    room_type        VARCHAR(16)  NOT NULL DEFAULT 'public',
    created_by       BIGINT       NULL,
    created_at       BIGINT       NOT NULL,
    CONSTRAINT rooms_room_name_folded UNIQUE (room_name_folded),
    CONSTRAINT rooms_type CHECK (room_type IN ('public', 'private', 'direct')),
    CONSTRAINT rooms_creator FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE room_members (
    room_id      BIGINT      NOT NULL,
    user_id      BIGINT      NOT NULL,
    role         VARCHAR(16) NOT NULL DEFAULT 'member',
    joined_at    BIGINT      NOT NULL,
    last_read_id BIGINT      NULL,
    PRIMARY KEY (room_id, user_id),
    KEY room_members_by_user (user_id),
    CONSTRAINT room_members_role CHECK (role IN ('owner', 'member')),
    CONSTRAINT room_members_room FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    CONSTRAINT room_members_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB;

CREATE TABLE messages (
    id           BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    room_id      BIGINT      NOT NULL,
    user_id      BIGINT      NOT NULL,
    message      TEXT        NOT NULL,
    message_type VARCHAR(16) NOT NULL DEFAULT 'text',
    client_id    VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    parent_id    BIGINT      NULL,
    edited_at    BIGINT      NULL,
    deleted_at   BIGINT      NULL,
    created_at   BIGINT      NOT NULL,
    KEY messages_by_room (room_id, id),
    -- NULLs never collide, so only sends that carry a client_id are deduplicated.
    CONSTRAINT messages_by_client_id UNIQUE (user_id, client_id),
    CONSTRAINT messages_type CHECK (message_type IN ('text', 'system')),
    CONSTRAINT messages_room FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    CONSTRAINT messages_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT messages_parent FOREIGN KEY (parent_id) REFERENCES messages (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT INTO rooms (room_name, room_name_folded, room_type, created_at) VALUES
    ('General', 'general', 'public', UNIX_TIMESTAMP() * 1000),
    ('Technology', 'technology', 'public', UNIX_TIMESTAMP() * 1000),
    ('Random', 'random', 'public', UNIX_TIMESTAMP() * 1000);
