package postgres

import "strings"

// query names one SQL statement; {s} in its template is the quoted schema.
type query int

// queries holds the statements with the schema filled in, built once per Store.
type queries struct {
	sql [numQueries]string
	// deleteExpired[i] sweeps table expiring[i].
	deleteExpired []string
}

func newQueries(schema string) *queries {
	r := strings.NewReplacer("{s}", schema)
	q := new(queries)
	for i, t := range templates {
		q.sql[i] = r.Replace(t)
	}
	for _, table := range expiring {
		q.deleteExpired = append(q.deleteExpired,
			strings.NewReplacer("{s}", schema, "{t}", table).Replace(deleteExpiredTemplate))
	}
	return q
}

const (
	qGetClient query = iota
	qSetClient
	qDeleteClient

	qSaveCode
	qConsumeCode
	qCreateGrant
	qGetGrant
	qRevokeGrant
	qSaveRefresh
	qRotateRefresh
	qGetRefresh
	qLookupRefresh
	qDenyToken
	qIsRevoked
	qSavePending
	qGetPending
	qConsumePending

	qGetCode
	qRedeemCode
	qRetryLock
	qKillSuccessor
	qSetSuccessor
	qTrimPending
	qDeleteUnusedClients

	qListKeys
	qAddKey
	qRetireKey
	qDeleteKey

	numQueries
)

const (
	codeCols    = `grant_id, client_id, subject, redirect_uri, code_challenge, resource, scopes, auth_time, expires_at, upstream`
	grantCols   = `id, client_id, subject, scopes, resource, created_at, expires_at, revoked_at, upstream_grant_id`
	refreshCols = `grant_id, client_id, subject, scopes, resource, issued_at, expires_at, upstream, access_jti, access_expires_at`
	pendingCols = `client_id, redirect_uri, state, code_challenge, resource, scopes, subject, expires_at, upstream`
)

var templates = [numQueries]string{
	qGetClient: `SELECT secret_digest, metadata, last_used_at FROM {s}.clients WHERE id = $1`,
	qSetClient: `INSERT INTO {s}.clients (id, secret_digest, metadata, last_used_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET secret_digest = EXCLUDED.secret_digest, metadata = EXCLUDED.metadata,
			last_used_at = EXCLUDED.last_used_at`,
	qDeleteClient: `DELETE FROM {s}.clients WHERE id = $1`,

	qSaveCode: `INSERT INTO {s}.codes (digest, ` + codeCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
	// One statement: the UPDATE consumes the code for exactly one caller
	// (a concurrent one waits for the row lock, then finds it consumed);
	// when it matched nothing, the SELECT tells a replay (the code exists
	// and is unexpired) from an unknown or expired code.
	qConsumeCode: `WITH hit AS (
			UPDATE {s}.codes SET consumed_at = $2
			WHERE digest = $1 AND consumed_at IS NULL AND expires_at > $2
			RETURNING ` + codeCols + `
		)
		SELECT true, ` + codeCols + ` FROM hit
		UNION ALL
		SELECT false, ` + codeCols + ` FROM {s}.codes
		WHERE digest = $1 AND expires_at > $2 AND NOT EXISTS (SELECT 1 FROM hit)`,

	qCreateGrant: `INSERT INTO {s}.grants (` + grantCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
	qGetGrant:    `SELECT ` + grantCols + ` FROM {s}.grants WHERE id = $1 AND expires_at > $2`,
	qRevokeGrant: `UPDATE {s}.grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`,

	qSaveRefresh: `INSERT INTO {s}.refresh_tokens (digest, ` + refreshCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
	// One statement, so atomic: retire the old token if it is unrotated,
	// unexpired and its grant live, and insert the new one only then (a
	// duplicate new digest aborts both). When the UPDATE matched nothing,
	// the SELECT finds the old token in the statement's snapshot: if it is
	// unexpired with a live grant it was rotated (before, or concurrently
	// while the UPDATE waited for its row lock): a reuse.
	qRotateRefresh: `WITH old AS (
			UPDATE {s}.refresh_tokens r SET rotated_at = $3, successor = $2
			FROM {s}.grants g
			WHERE r.digest = $1 AND r.rotated_at IS NULL AND r.expires_at > $3
				AND g.id = r.grant_id AND g.revoked_at IS NULL AND g.expires_at > $3
			RETURNING r.grant_id, r.client_id, r.subject, r.scopes, r.resource, r.issued_at, r.expires_at, r.upstream,
				r.access_jti, r.access_expires_at
		), ins AS (
			INSERT INTO {s}.refresh_tokens (digest, ` + refreshCols + `)
			SELECT $2::text, $4::text, $5::text, $6::text, $7::text[], $8::text, $9::timestamptz, $10::timestamptz, $11::bytea,
				$12::text, $13::timestamptz
			FROM old
		)
		SELECT true, ` + refreshCols + ` FROM old
		UNION ALL
		SELECT false, ` + refreshCols + ` FROM {s}.refresh_tokens r
		WHERE r.digest = $1 AND r.expires_at > $3 AND NOT EXISTS (SELECT 1 FROM old)
			AND EXISTS (SELECT 1 FROM {s}.grants g
				WHERE g.id = r.grant_id AND g.revoked_at IS NULL AND g.expires_at > $3)`,
	qGetRefresh: `SELECT ` + refreshCols + ` FROM {s}.refresh_tokens r
		WHERE r.digest = $1 AND r.rotated_at IS NULL AND r.expires_at > $2
			AND EXISTS (SELECT 1 FROM {s}.grants g
				WHERE g.id = r.grant_id AND g.revoked_at IS NULL AND g.expires_at > $2)`,
	qLookupRefresh: `SELECT r.rotated_at IS NOT NULL, ` + refreshCols + ` FROM {s}.refresh_tokens r
		WHERE r.digest = $1 AND r.expires_at > $2
			AND EXISTS (SELECT 1 FROM {s}.grants g
				WHERE g.id = r.grant_id AND g.revoked_at IS NULL AND g.expires_at > $2)`,

	qDenyToken: `INSERT INTO {s}.denied_tokens AS d (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(d.expires_at, EXCLUDED.expires_at)`,
	qIsRevoked: `SELECT ($1::text <> '' AND EXISTS (SELECT 1 FROM {s}.denied_tokens WHERE jti = $1))
		OR EXISTS (SELECT 1 FROM {s}.grants WHERE id = $2 AND revoked_at IS NOT NULL)`,

	qSavePending: `INSERT INTO {s}.pending_authorizations (digest, ` + pendingCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
	qGetPending: `SELECT ` + pendingCols + ` FROM {s}.pending_authorizations
		WHERE digest = $1 AND expires_at > $2`,
	qConsumePending: `DELETE FROM {s}.pending_authorizations
		WHERE digest = $1 AND expires_at > $2 RETURNING ` + pendingCols,

	qGetCode: `SELECT consumed_at IS NOT NULL, ` + codeCols + ` FROM {s}.codes
		WHERE digest = $1 AND expires_at > $2`,
	// Consumes the code inside RedeemCode's transaction; a concurrent
	// redeemer waits for the row lock and then finds it consumed.
	qRedeemCode: `UPDATE {s}.codes SET consumed_at = $2
		WHERE digest = $1 AND consumed_at IS NULL AND expires_at > $2
		RETURNING ` + codeCols,
	// The retry window: lock the rotated token, read when and to what.
	qRetryLock: `SELECT rotated_at, successor FROM {s}.refresh_tokens
		WHERE digest = $1 AND rotated_at IS NOT NULL FOR UPDATE`,
	qKillSuccessor: `UPDATE {s}.refresh_tokens SET rotated_at = $2, successor = NULL
		WHERE digest = $1 AND rotated_at IS NULL AND expires_at > $2
		RETURNING access_jti, access_expires_at`,
	// rotated_at 'epoch' closes the window: one retry per token.
	qSetSuccessor: `UPDATE {s}.refresh_tokens SET successor = $2, rotated_at = 'epoch' WHERE digest = $1`,
	// seq grows with insertion: the newest $1 have the highest.
	qTrimPending: `DELETE FROM {s}.pending_authorizations
		WHERE seq <= (SELECT max(seq) FROM {s}.pending_authorizations) - $1`,
	qDeleteUnusedClients: `DELETE FROM {s}.clients WHERE id = ANY(ARRAY(
		SELECT id FROM {s}.clients WHERE last_used_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`,

	qListKeys: `SELECT kid, alg, private_jwk, enc_key_id, created_at, sign_from, expires_at
		FROM {s}.signing_keys ORDER BY created_at DESC, seq`,
	qAddKey: `INSERT INTO {s}.signing_keys (kid, alg, private_jwk, enc_key_id, created_at, sign_from, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
	qRetireKey: `UPDATE {s}.signing_keys SET expires_at = $2
		WHERE kid = $1 AND (expires_at IS NULL OR expires_at > $2)`,
	qDeleteKey: `DELETE FROM {s}.signing_keys WHERE kid = $1`,
}

// expiring lists the tables DeleteExpired sweeps, in order; grants go last
// so their tokens expire first.
var expiring = []string{"codes", "refresh_tokens", "denied_tokens", "pending_authorizations", "client_assertions", "grants"}

// deleteExpiredTemplate removes up to $2 rows of one table that expired by
// $1. SKIP LOCKED keeps replicas sweeping at once from waiting on each other
// or on rows being redeemed; ctid = ANY(ARRAY(…)) is a TID scan.
const deleteExpiredTemplate = `DELETE FROM {s}.{t} WHERE ctid = ANY(ARRAY(
	SELECT ctid FROM {s}.{t} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`
