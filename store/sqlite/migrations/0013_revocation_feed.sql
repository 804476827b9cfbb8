-- The revocation feed (mcpauth.RevocationFeedStore): an append-only log
-- of revocations, read by id; AUTOINCREMENT never reuses a swept id.
CREATE TABLE revocation_feed (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	jti        TEXT NOT NULL,
	grant_id   TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX revocation_feed_expires_at ON revocation_feed (expires_at);
-- floor: the largest id ever swept; head: the largest id ever appended.
CREATE TABLE revocation_feed_meta (
	one   INTEGER PRIMARY KEY CHECK (one = 1),
	floor INTEGER NOT NULL,
	head  INTEGER NOT NULL
) STRICT;
INSERT INTO revocation_feed_meta (one, floor, head) VALUES (1, 0, 0);
