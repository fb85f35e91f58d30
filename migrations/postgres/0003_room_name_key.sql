-- Room names are unique by their confusable skeleton (UTS #39), so that
-- 'Gеneral' with a Cyrillic е cannot sit beside 'General' (docs/security.md,
-- finding 7). SQL cannot compute a skeleton: the rooms that exist are given
-- their key at the next start (Store::open), and a NULL key, which a unique
-- constraint lets repeat, lives only until then.
ALTER TABLE rooms ADD COLUMN name_key TEXT;
ALTER TABLE rooms ADD CONSTRAINT rooms_name_key UNIQUE (name_key);
