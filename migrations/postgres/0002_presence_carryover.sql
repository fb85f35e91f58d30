-- Who was online when a single server last stopped gracefully, and when it
-- stopped: the next start counts them online for a grace period, so that a
-- restart announces no one offline and back (docs/api.md, "Presence across a
-- restart"). Read and emptied at each start.
CREATE TABLE presence_carryover (
    user_id    BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    stopped_at BIGINT NOT NULL
);
