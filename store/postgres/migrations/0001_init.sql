-- Runs with search_path set to the store's schema. NULL in consumed_at,
-- revoked_at, rotated_at and a key's expires_at means unset. Digests are the
-- base64url SHA-256 of secrets the store never sees.

CREATE TABLE clients (
	id            text PRIMARY KEY,
	secret_digest bytea,
	-- The rest of mcpauth.Client. json, not jsonb: it keeps \u0000 escapes.
	metadata      json NOT NULL
);

-- consumed_at is not indexed, so consuming a code is a HOT update.
CREATE TABLE codes (
	digest         text PRIMARY KEY,
	grant_id       text NOT NULL,
	client_id      text NOT NULL,
	subject        text NOT NULL,
	redirect_uri   text NOT NULL,
	code_challenge text NOT NULL,
	resource       text NOT NULL,
	scopes         text[] NOT NULL,
	auth_time      timestamptz NOT NULL,
	expires_at     timestamptz NOT NULL,
	upstream       bytea,
	consumed_at    timestamptz
) WITH (fillfactor = 90);
CREATE INDEX codes_expires_at ON codes (expires_at);

CREATE TABLE grants (
	id                text PRIMARY KEY,
	client_id         text NOT NULL,
	subject           text NOT NULL,
	scopes            text[] NOT NULL,
	resource          text NOT NULL,
	created_at        timestamptz NOT NULL,
	expires_at        timestamptz NOT NULL,
	revoked_at        timestamptz,
	upstream_grant_id text NOT NULL
) WITH (fillfactor = 90);
CREATE INDEX grants_expires_at ON grants (expires_at);

-- One family per grant: rotation keeps grant_id, reuse revokes the grant.
CREATE TABLE refresh_tokens (
	digest     text PRIMARY KEY,
	grant_id   text NOT NULL,
	client_id  text NOT NULL,
	subject    text NOT NULL,
	scopes     text[] NOT NULL,
	resource   text NOT NULL,
	issued_at  timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	upstream   bytea,
	rotated_at timestamptz
) WITH (fillfactor = 90);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE denied_tokens (
	jti        text PRIMARY KEY,
	expires_at timestamptz NOT NULL
);
CREATE INDEX denied_tokens_expires_at ON denied_tokens (expires_at);

CREATE TABLE pending_authorizations (
	digest         text PRIMARY KEY,
	client_id      text NOT NULL,
	redirect_uri   text NOT NULL,
	state          text NOT NULL,
	code_challenge text NOT NULL,
	resource       text NOT NULL,
	scopes         text[] NOT NULL,
	subject        text NOT NULL,
	expires_at     timestamptz NOT NULL,
	upstream       bytea
);
CREATE INDEX pending_authorizations_expires_at ON pending_authorizations (expires_at);

CREATE TABLE signing_keys (
	kid         text PRIMARY KEY,
	-- Insertion order breaks created_at ties in ListKeys.
	seq         bigint GENERATED ALWAYS AS IDENTITY,
	alg         text NOT NULL,
	-- AES-256-GCM (nonce || ciphertext) when enc_key_id is set, else plaintext JWK.
	private_jwk bytea NOT NULL,
	enc_key_id  text,
	created_at  timestamptz NOT NULL,
	sign_from   timestamptz NOT NULL,
	expires_at  timestamptz
);
