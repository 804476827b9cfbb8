-- Refresh retry window: the digest a token was rotated to (NULL when the
-- token is live, or was killed as the successor of a retried rotation).
ALTER TABLE refresh_tokens ADD COLUMN successor TEXT;
-- The access token issued with the refresh token, deny-listed when a retry
-- kills the refresh token.
ALTER TABLE refresh_tokens ADD COLUMN access_jti TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN access_expires_at INTEGER NOT NULL DEFAULT 0;

-- Idle expiry of registered clients. Clients registered before this
-- migration count as used now, so an upgrade deletes none of them.
ALTER TABLE clients ADD COLUMN last_used_at INTEGER;
UPDATE clients SET last_used_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000000;
CREATE INDEX clients_last_used_at ON clients (last_used_at);
