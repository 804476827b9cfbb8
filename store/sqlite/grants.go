package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/mcpauth/mcpauth"
)

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scopes is the stored form of a scope list: a JSON array.
func scopes(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(s) // []string always marshals
	return string(b)
}

func parseScopes(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// changed reports whether an INSERT … ON CONFLICT DO NOTHING inserted.
func changed(res sql.Result) (bool, error) {
	n, err := res.RowsAffected()
	return n > 0, err
}

const codeCols = `grant_id, client_id, subject, redirect_uri, code_challenge, resource, scopes, auth_time, expires_at, upstream`

func scanCode(row scanner, extra ...any) (*mcpauth.CodeRecord, error) {
	var (
		r             mcpauth.CodeRecord
		sc            string
		auth, expires int64
	)
	if err := row.Scan(append([]any{&r.GrantID, &r.ClientID, &r.Subject, &r.RedirectURI, &r.CodeChallenge, &r.Resource,
		&sc, &auth, &expires, &r.Upstream}, extra...)...); err != nil {
		return nil, err
	}
	var err error
	r.Scopes, err = parseScopes(sc)
	r.AuthTime, r.ExpiresAt = fromMicros(auth), fromMicros(expires)
	return &r, err
}

// SaveCode implements [mcpauth.GrantStore].
func (s *Store) SaveCode(ctx context.Context, digest string, rec *mcpauth.CodeRecord) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO codes (digest, `+codeCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		digest, rec.GrantID, rec.ClientID, rec.Subject, rec.RedirectURI, rec.CodeChallenge, rec.Resource,
		scopes(rec.Scopes), micros(rec.AuthTime), micros(rec.ExpiresAt), rec.Upstream)
	if err != nil {
		return s.fail("save code", err)
	}
	if ok, err := changed(res); err != nil {
		return s.fail("save code", err)
	} else if !ok {
		return mcpauth.ErrConflict
	}
	return nil
}

// ConsumeCode implements [mcpauth.GrantStore]. One conditional UPDATE marks
// the code consumed, so exactly one caller gets it; a second read tells a
// replay from an unknown code.
func (s *Store) ConsumeCode(ctx context.Context, digest string) (*mcpauth.CodeRecord, error) {
	now := micros(s.now())
	rec, err := scanCode(s.w.QueryRowContext(ctx, consumeCode, now, digest))
	if err == nil {
		return rec, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, s.fail("consume code", err)
	}
	return s.unconsumable(ctx, "consume code", digest)
}

// consumeCode marks an unconsumed, unexpired code consumed at ?1.
const consumeCode = `UPDATE codes SET consumed_at = ?1
	WHERE digest = ?2 AND consumed_at IS NULL AND expires_at > ?1
	RETURNING ` + codeCols

// unconsumable tells why a code could not be consumed: it was already
// (ErrCodeReplayed, with its record), or it is unknown or expired.
func (s *Store) unconsumable(ctx context.Context, op, digest string) (*mcpauth.CodeRecord, error) {
	rec, err := s.GetCode(ctx, digest)
	switch {
	case err == nil: // expired in between
		return nil, mcpauth.ErrNotFound
	case errors.Is(err, mcpauth.ErrCodeReplayed), errors.Is(err, mcpauth.ErrNotFound):
		return rec, err
	}
	return nil, s.fail(op, err)
}

// GetCode implements [mcpauth.GrantStore].
func (s *Store) GetCode(ctx context.Context, digest string) (*mcpauth.CodeRecord, error) {
	var consumed bool
	rec, err := scanCode(s.r.QueryRowContext(ctx, `SELECT `+codeCols+`, consumed_at IS NOT NULL FROM codes
		WHERE digest = ? AND expires_at > ?`, digest, micros(s.now())), &consumed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, mcpauth.ErrNotFound
	case err != nil:
		return nil, s.fail("get code", err)
	case consumed:
		return rec, mcpauth.ErrCodeReplayed
	}
	return rec, nil
}

// RedeemCode implements [mcpauth.GrantStore] in one write transaction: the
// code's conditional UPDATE, the grants, the refresh token; any failure
// rolls all of it back.
func (s *Store) RedeemCode(ctx context.Context, digest string, r *mcpauth.Redemption) (*mcpauth.CodeRecord, error) {
	now := micros(s.now())
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.fail("redeem code", err)
	}
	defer tx.Rollback()
	rec, err := scanCode(tx.QueryRowContext(ctx, consumeCode, now, digest))
	if errors.Is(err, sql.ErrNoRows) {
		tx.Rollback() // release the writer before reading why
		return s.unconsumable(ctx, "redeem code", digest)
	}
	if err != nil {
		return nil, s.fail("redeem code", err)
	}
	for _, g := range r.Grants {
		if _, err := tx.ExecContext(ctx, `INSERT INTO grants (`+grantCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			g.ID, g.ClientID, g.Subject, scopes(g.Scopes), g.Resource,
			micros(g.CreatedAt), micros(g.ExpiresAt), nullMicros(g.RevokedAt), g.UpstreamGrantID); err != nil {
			return nil, s.fail("redeem code", err)
		}
	}
	if r.Refresh != nil {
		ok, err := insertRefresh(ctx, tx, r.RefreshDigest, r.Refresh)
		if err != nil {
			return nil, s.fail("redeem code", err)
		}
		if !ok {
			return nil, mcpauth.ErrConflict
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, s.fail("redeem code", err)
	}
	return rec, nil
}

const grantCols = `id, client_id, subject, scopes, resource, created_at, expires_at, revoked_at, upstream_grant_id`

// CreateGrant implements [mcpauth.GrantStore].
func (s *Store) CreateGrant(ctx context.Context, g *mcpauth.GrantRecord) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO grants (`+grantCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		g.ID, g.ClientID, g.Subject, scopes(g.Scopes), g.Resource,
		micros(g.CreatedAt), micros(g.ExpiresAt), nullMicros(g.RevokedAt), g.UpstreamGrantID)
	if err != nil {
		return s.fail("create grant", err)
	}
	if ok, err := changed(res); err != nil {
		return s.fail("create grant", err)
	} else if !ok {
		return mcpauth.ErrConflict
	}
	return nil
}

// GetGrant implements [mcpauth.GrantStore].
func (s *Store) GetGrant(ctx context.Context, id string) (*mcpauth.GrantRecord, error) {
	var (
		g                mcpauth.GrantRecord
		sc               string
		created, expires int64
		revoked          sql.NullInt64
	)
	err := s.r.QueryRowContext(ctx, `SELECT `+grantCols+` FROM grants WHERE id = ? AND expires_at > ?`,
		id, micros(s.now())).
		Scan(&g.ID, &g.ClientID, &g.Subject, &sc, &g.Resource, &created, &expires, &revoked, &g.UpstreamGrantID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, mcpauth.ErrNotFound
	case err != nil:
		return nil, s.fail("get grant", err)
	}
	if g.Scopes, err = parseScopes(sc); err != nil {
		return nil, s.fail("get grant", err)
	}
	g.CreatedAt, g.ExpiresAt, g.RevokedAt = fromMicros(created), fromMicros(expires), fromNullMicros(revoked)
	return &g, nil
}

// RevokeGrant implements [mcpauth.GrantStore]. The grant's refresh tokens
// end with it: rotation and lookup check that their grant is live.
func (s *Store) RevokeGrant(ctx context.Context, id string, at time.Time) error {
	_, err := s.w.ExecContext(ctx, `UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
		micros(at), id)
	if err != nil {
		return s.fail("revoke grant", err)
	}
	return nil
}

const refreshCols = `grant_id, client_id, subject, scopes, resource, issued_at, expires_at, upstream, access_jti, access_expires_at`

// liveGrant is an SQL condition: the refresh token's grant exists, is not
// revoked and has not expired at ?1.
const liveGrant = `EXISTS (SELECT 1 FROM grants g WHERE g.id = refresh_tokens.grant_id
	AND g.revoked_at IS NULL AND g.expires_at > ?1)`

func scanRefresh(row scanner, extra ...any) (*mcpauth.RefreshRecord, error) {
	var (
		r                          mcpauth.RefreshRecord
		sc                         string
		issued, expires, accessExp int64
	)
	dest := append([]any{&r.GrantID, &r.ClientID, &r.Subject, &sc, &r.Resource, &issued, &expires, &r.Upstream,
		&r.AccessTokenID, &accessExp}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	var err error
	r.Scopes, err = parseScopes(sc)
	r.IssuedAt, r.ExpiresAt = fromMicros(issued), fromMicros(expires)
	if accessExp != 0 {
		r.AccessExpiresAt = fromMicros(accessExp)
	}
	return &r, err
}

func insertRefresh(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, digest string, rec *mcpauth.RefreshRecord) (bool, error) {
	var accessExp int64 // 0: none
	if !rec.AccessExpiresAt.IsZero() {
		accessExp = micros(rec.AccessExpiresAt)
	}
	res, err := db.ExecContext(ctx, `INSERT INTO refresh_tokens (digest, `+refreshCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		digest, rec.GrantID, rec.ClientID, rec.Subject, scopes(rec.Scopes), rec.Resource,
		micros(rec.IssuedAt), micros(rec.ExpiresAt), rec.Upstream, rec.AccessTokenID, accessExp)
	if err != nil {
		return false, err
	}
	return changed(res)
}

// SaveRefresh implements [mcpauth.GrantStore].
func (s *Store) SaveRefresh(ctx context.Context, digest string, rec *mcpauth.RefreshRecord) error {
	ok, err := insertRefresh(ctx, s.w, digest, rec)
	if err != nil {
		return s.fail("save refresh token", err)
	}
	if !ok {
		return mcpauth.ErrConflict
	}
	return nil
}

// RotateRefresh implements [mcpauth.GrantStore]. In one write transaction a
// conditional UPDATE retires the old token (only if unrotated, unexpired and
// its grant live) and the new token is inserted; either both happen or
// neither does. A retry within retryWindow kills the successor instead.
func (s *Store) RotateRefresh(ctx context.Context, oldDigest, newDigest string, next *mcpauth.RefreshRecord, retryWindow time.Duration) (*mcpauth.RefreshRecord, error) {
	now := micros(s.now())
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.fail("rotate refresh token", err)
	}
	defer tx.Rollback()
	old, err := scanRefresh(tx.QueryRowContext(ctx, `UPDATE refresh_tokens SET rotated_at = ?1, successor = ?3
		WHERE digest = ?2 AND rotated_at IS NULL AND expires_at > ?1 AND `+liveGrant+`
		RETURNING `+refreshCols, now, oldDigest, newDigest))
	if errors.Is(err, sql.ErrNoRows) {
		// Not rotated now: tell a reuse from a dead or unknown token.
		var (
			rotated, live bool
			rotatedAt     sql.NullInt64
			successor     sql.NullString
		)
		old, err = scanRefresh(tx.QueryRowContext(ctx, `SELECT `+refreshCols+`, rotated_at IS NOT NULL, `+liveGrant+`,
			rotated_at, successor FROM refresh_tokens WHERE digest = ?2 AND expires_at > ?1`, now, oldDigest),
			&rotated, &live, &rotatedAt, &successor)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil, mcpauth.ErrNotFound
		case err != nil:
			return nil, s.fail("rotate refresh token", err)
		case !live || !rotated:
			return nil, mcpauth.ErrNotFound
		case retryWindow <= 0 || now >= rotatedAt.Int64+retryWindow.Microseconds() ||
			next.ClientID != old.ClientID || successor.String == "":
			return old, mcpauth.ErrRefreshReused
		}
		// A retry: kill the successor the client never received, if it
		// was never used itself.
		var jti string
		var accessExp int64
		err = tx.QueryRowContext(ctx, `UPDATE refresh_tokens SET rotated_at = ?1, successor = NULL
			WHERE digest = ?2 AND rotated_at IS NULL AND expires_at > ?1
			RETURNING access_jti, access_expires_at`, now, successor.String).Scan(&jti, &accessExp)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return old, mcpauth.ErrRefreshReused
		case err != nil:
			return nil, s.fail("rotate refresh token", err)
		}
		if jti != "" { // its access token dies with it
			if _, err := tx.ExecContext(ctx, `INSERT INTO denied_tokens (jti, expires_at) VALUES (?1, ?2)
				ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`, jti, accessExp); err != nil {
				return nil, s.fail("rotate refresh token", err)
			}
		}
		// rotated_at 0 (1970) closes the window: one retry per token.
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET successor = ?, rotated_at = 0 WHERE digest = ?`, newDigest, oldDigest); err != nil {
			return nil, s.fail("rotate refresh token", err)
		}
	} else if err != nil {
		return nil, s.fail("rotate refresh token", err)
	}
	ok, err := insertRefresh(ctx, tx, newDigest, next)
	if err != nil {
		return nil, s.fail("rotate refresh token", err)
	}
	if !ok {
		return nil, mcpauth.ErrConflict // the rollback keeps the old token live
	}
	if err := tx.Commit(); err != nil {
		return nil, s.fail("rotate refresh token", err)
	}
	return old, nil
}

// GetRefresh implements [mcpauth.GrantStore].
func (s *Store) GetRefresh(ctx context.Context, digest string) (*mcpauth.RefreshRecord, error) {
	rec, err := scanRefresh(s.r.QueryRowContext(ctx, `SELECT `+refreshCols+` FROM refresh_tokens
		WHERE digest = ?2 AND rotated_at IS NULL AND expires_at > ?1 AND `+liveGrant,
		micros(s.now()), digest))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, mcpauth.ErrNotFound
	case err != nil:
		return nil, s.fail("get refresh token", err)
	}
	return rec, nil
}

// LookupRefresh implements [mcpauth.GrantStore].
func (s *Store) LookupRefresh(ctx context.Context, digest string) (*mcpauth.RefreshRecord, error) {
	var rotated bool
	rec, err := scanRefresh(s.r.QueryRowContext(ctx, `SELECT `+refreshCols+`, rotated_at IS NOT NULL FROM refresh_tokens
		WHERE digest = ?2 AND expires_at > ?1 AND `+liveGrant,
		micros(s.now()), digest), &rotated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, mcpauth.ErrNotFound
	case err != nil:
		return nil, s.fail("look up refresh token", err)
	case rotated:
		return rec, mcpauth.ErrRefreshReused
	}
	return rec, nil
}

// DenyToken implements [mcpauth.GrantStore]. A later until extends the entry.
func (s *Store) DenyToken(ctx context.Context, jti string, until time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO denied_tokens (jti, expires_at) VALUES (?1, ?2)
		ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
		jti, micros(until))
	if err != nil {
		return s.fail("deny token", err)
	}
	return nil
}

// IsRevoked implements [mcpauth.GrantStore].
func (s *Store) IsRevoked(ctx context.Context, jti, grantID string) (bool, error) {
	var revoked bool
	err := s.r.QueryRowContext(ctx, `SELECT
		(?1 <> '' AND EXISTS (SELECT 1 FROM denied_tokens WHERE jti = ?1)) OR
		EXISTS (SELECT 1 FROM grants WHERE id = ?2 AND revoked_at IS NOT NULL)`,
		jti, grantID).Scan(&revoked)
	if err != nil {
		return false, s.fail("is revoked", err)
	}
	return revoked, nil
}

const pendingCols = `client_id, redirect_uri, state, code_challenge, resource, scopes, subject, expires_at, upstream`

func scanPending(row scanner) (*mcpauth.PendingAuthorization, error) {
	var (
		p       mcpauth.PendingAuthorization
		sc      string
		expires int64
	)
	if err := row.Scan(&p.ClientID, &p.RedirectURI, &p.State, &p.CodeChallenge, &p.Resource,
		&sc, &p.Subject, &expires, &p.Upstream); err != nil {
		return nil, err
	}
	var err error
	p.Scopes, err = parseScopes(sc)
	p.ExpiresAt = fromMicros(expires)
	return &p, err
}

// SavePending implements [mcpauth.GrantStore].
func (s *Store) SavePending(ctx context.Context, digest string, p *mcpauth.PendingAuthorization) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO pending_authorizations (digest, `+pendingCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		digest, p.ClientID, p.RedirectURI, p.State, p.CodeChallenge, p.Resource,
		scopes(p.Scopes), p.Subject, micros(p.ExpiresAt), p.Upstream)
	if err != nil {
		return s.fail("save pending authorization", err)
	}
	if ok, err := changed(res); err != nil {
		return s.fail("save pending authorization", err)
	} else if !ok {
		return mcpauth.ErrConflict
	}
	return nil
}

// GetPending implements [mcpauth.GrantStore].
func (s *Store) GetPending(ctx context.Context, digest string) (*mcpauth.PendingAuthorization, error) {
	p, err := scanPending(s.r.QueryRowContext(ctx, `SELECT `+pendingCols+` FROM pending_authorizations
		WHERE digest = ? AND expires_at > ?`, digest, micros(s.now())))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, mcpauth.ErrNotFound
	case err != nil:
		return nil, s.fail("get pending authorization", err)
	}
	return p, nil
}

// ConsumePending implements [mcpauth.GrantStore] with one DELETE … RETURNING.
func (s *Store) ConsumePending(ctx context.Context, digest string) (*mcpauth.PendingAuthorization, error) {
	p, err := scanPending(s.w.QueryRowContext(ctx, `DELETE FROM pending_authorizations
		WHERE digest = ? AND expires_at > ? RETURNING `+pendingCols, digest, micros(s.now())))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, mcpauth.ErrNotFound
	case err != nil:
		return nil, s.fail("consume pending authorization", err)
	}
	return p, nil
}

// TrimPending implements [mcpauth.GrantStore]. Rowids grow with insertion,
// so the newest keep requests have the highest; one range DELETE on the
// rowid drops the rest.
func (s *Store) TrimPending(ctx context.Context, keep int) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM pending_authorizations
		WHERE rowid <= (SELECT max(rowid) FROM pending_authorizations) - ?`, keep)
	if err != nil {
		return 0, s.fail("trim pending authorizations", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail("trim pending authorizations", err)
	}
	return int(n), nil
}

// expiring lists the tables DeleteExpired sweeps, in order; grants go last
// so their tokens expire first.
var expiring = []string{"codes", "refresh_tokens", "denied_tokens", "pending_authorizations", "client_assertions", "grants"}

// DeleteExpired implements [mcpauth.GrantStore]. Each table is swept with
// one bounded DELETE, so the write lock is held briefly.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	n := 0
	for _, table := range expiring {
		if n >= limit {
			break
		}
		res, err := s.w.ExecContext(ctx, `DELETE FROM `+table+` WHERE rowid IN
			(SELECT rowid FROM `+table+` WHERE expires_at <= ? LIMIT ?)`, micros(now), limit-n)
		if err != nil {
			return n, s.fail("delete expired "+table, err)
		}
		d, err := res.RowsAffected()
		if err != nil {
			return n, s.fail("delete expired "+table, err)
		}
		n += int(d)
	}
	return n, nil
}
