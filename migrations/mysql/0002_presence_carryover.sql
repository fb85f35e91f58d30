-- Who was online when a single server last stopped gracefully, and when it
-- stopped: the next start counts them online for a grace period, so that a
-- restart announces no one offline and back (docs/api.md, "Presence across a
-- restart"). Read and emptied at each start.
CREATE TABLE presence_carryover (
    user_id    BIGINT NOT NULL PRIMARY KEY,
    stopped_at BIGINT NOT NULL,
    CONSTRAINT presence_carryover_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB;
