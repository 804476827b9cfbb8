-- Refresh retry window: the digest a token was rotated to (NULL when the
-- token is live, or was killed as the successor of a retried rotation).
ALTER TABLE refresh_tokens ADD COLUMN successor text;
-- The access token issued with the refresh token, deny-listed when a retry
-- kills the refresh token.
ALTER TABLE refresh_tokens ADD COLUMN access_jti text NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN access_expires_at timestamptz;

-- Idle expiry of registered clients. Clients registered before this
-- migration count as used now, so an upgrade deletes none of them.
ALTER TABLE clients ADD COLUMN last_used_at timestamptz;
UPDATE clients SET last_used_at = now();
CREATE INDEX clients_last_used_at ON clients (last_used_at);

-- The cap on pending authorization requests drops the oldest first: seq
-- orders them by insertion across replicas.
ALTER TABLE pending_authorizations ADD COLUMN seq bigserial;
CREATE INDEX pending_authorizations_seq ON pending_authorizations (seq);
