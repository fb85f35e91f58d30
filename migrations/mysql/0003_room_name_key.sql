-- Room names are unique by their confusable skeleton (UTS #39), so that
-- 'Gеneral' with a Cyrillic е cannot sit beside 'General' (docs/security.md,
-- finding 7). SQL cannot compute a skeleton: the rooms that exist are given
-- their key at the next start (Store::open), and a NULL key, which a unique
-- index lets repeat, lives only until then. The key compares byte-for-byte
-- (utf8mb4_bin); 512 characters hold the key of any 50-character name
-- (domain::text::MAX_KEY_CHARS) within InnoDB's 3072-byte index limit.
ALTER TABLE rooms
    ADD COLUMN name_key VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    ADD CONSTRAINT rooms_name_key UNIQUE (name_key);
