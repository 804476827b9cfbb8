-- Times are Unix microseconds (the zero time.Time is year 1); NULL in
-- consumed_at, revoked_at, rotated_at and a key's expires_at means unset.
-- Scopes are JSON arrays. Digests are the base64url SHA-256 of secrets the
-- store never sees.

CREATE TABLE clients (
	id            TEXT PRIMARY KEY,
	secret_digest BLOB,
	-- The rest of mcpauth.Client as JSON, so new metadata needs no migration.
	metadata      TEXT NOT NULL
) STRICT;

CREATE TABLE codes (
	digest         TEXT PRIMARY KEY,
	grant_id       TEXT NOT NULL,
	client_id      TEXT NOT NULL,
	subject        TEXT NOT NULL,
	redirect_uri   TEXT NOT NULL,
	code_challenge TEXT NOT NULL,
	resource       TEXT NOT NULL,
	scopes         TEXT NOT NULL,
	auth_time      INTEGER NOT NULL,
	expires_at     INTEGER NOT NULL,
	upstream       BLOB,
	consumed_at    INTEGER
) STRICT;
CREATE INDEX codes_expires_at ON codes (expires_at);

CREATE TABLE grants (
	id                TEXT PRIMARY KEY,
	client_id         TEXT NOT NULL,
	subject           TEXT NOT NULL,
	scopes            TEXT NOT NULL,
	resource          TEXT NOT NULL,
	created_at        INTEGER NOT NULL,
	expires_at        INTEGER NOT NULL,
	revoked_at        INTEGER,
	upstream_grant_id TEXT NOT NULL
) STRICT;
CREATE INDEX grants_expires_at ON grants (expires_at);

-- One family per grant: rotation keeps grant_id, reuse revokes the grant.
CREATE TABLE refresh_tokens (
	digest     TEXT PRIMARY KEY,
	grant_id   TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	subject    TEXT NOT NULL,
	scopes     TEXT NOT NULL,
	resource   TEXT NOT NULL,
	issued_at  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	upstream   BLOB,
	rotated_at INTEGER
) STRICT;
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE denied_tokens (
	jti        TEXT PRIMARY KEY,
	expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX denied_tokens_expires_at ON denied_tokens (expires_at);

CREATE TABLE pending_authorizations (
	digest         TEXT PRIMARY KEY,
	client_id      TEXT NOT NULL,
	redirect_uri   TEXT NOT NULL,
	state          TEXT NOT NULL,
	code_challenge TEXT NOT NULL,
	resource       TEXT NOT NULL,
	scopes         TEXT NOT NULL,
	subject        TEXT NOT NULL,
	expires_at     INTEGER NOT NULL,
	upstream       BLOB
) STRICT;
CREATE INDEX pending_authorizations_expires_at ON pending_authorizations (expires_at);

CREATE TABLE signing_keys (
	kid         TEXT PRIMARY KEY,
	alg         TEXT NOT NULL,
	-- AES-256-GCM (nonce || ciphertext) when enc_key_id is set, else plaintext JWK.
	private_jwk BLOB NOT NULL,
	enc_key_id  TEXT,
	created_at  INTEGER NOT NULL,
	sign_from   INTEGER NOT NULL,
	expires_at  INTEGER
) STRICT;
