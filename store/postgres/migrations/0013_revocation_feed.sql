-- The revocation feed (mcpauth.RevocationFeedStore): an append-only log
-- of revocations, read by id. Ids come from revocation_feed_meta.head,
-- whose row lock serializes appends so ids become visible in order (a
-- sequence would let a later id commit first and a reader skip the
-- earlier one).
CREATE TABLE revocation_feed (
	id         bigint PRIMARY KEY,
	jti        text NOT NULL,
	grant_id   text NOT NULL,
	expires_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX revocation_feed_expires_at ON revocation_feed (expires_at);
-- floor: the largest id ever swept; head: the largest id ever appended.
CREATE TABLE revocation_feed_meta (
	one   boolean PRIMARY KEY CHECK (one),
	floor bigint NOT NULL,
	head  bigint NOT NULL
);
INSERT INTO revocation_feed_meta (one, floor, head) VALUES (true, 0, 0);
