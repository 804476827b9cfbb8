package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

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

func scanCode(row scanner, extra ...any) (*store.CodeRecord, error) {
	var (
		r             store.CodeRecord
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

// SaveCode implements [store.GrantStore].
func (s *Store) SaveCode(ctx context.Context, digest string, rec *store.CodeRecord) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.saveCode(ctx, tx, digest, rec) })
}

func (s *Store) saveCode(ctx context.Context, tx *sql.Tx, digest string, rec *store.CodeRecord) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO codes (digest, `+codeCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		digest, rec.GrantID, rec.ClientID, rec.Subject, rec.RedirectURI, rec.CodeChallenge, rec.Resource,
		scopes(rec.Scopes), micros(rec.AuthTime), micros(rec.ExpiresAt), rec.Upstream)
	if err != nil {
		return s.fail("save code", err)
	}
	if ok, err := changed(res); err != nil {
		return s.fail("save code", err)
	} else if !ok {
		return store.ErrConflict
	}
	return nil
}

// ConsumeCode implements [store.GrantStore]. One conditional UPDATE marks
// the code consumed, so exactly one caller gets it; a second read tells a
// replay from an unknown code.
func (s *Store) ConsumeCode(ctx context.Context, digest string) (*store.CodeRecord, error) {
	var rec *store.CodeRecord
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		rec, err = scanCode(tx.QueryRowContext(ctx, consumeCode, micros(s.now()), digest))
		if errors.Is(err, sql.ErrNoRows) {
			rec, err = s.unconsumable(ctx, tx, "consume code", digest)
			return err
		}
		if err != nil {
			return s.fail("consume code", err)
		}
		return nil
	})
	return rec, err
}

// consumeCode marks an unconsumed, unexpired code consumed at ?1.
const consumeCode = `UPDATE codes SET consumed_at = ?1
	WHERE digest = ?2 AND consumed_at IS NULL AND expires_at > ?1
	RETURNING ` + codeCols

// unconsumable tells why a code could not be consumed: it was already
// (ErrCodeReplayed, with its record), or it is unknown or expired.
func (s *Store) unconsumable(ctx context.Context, tx *sql.Tx, op, digest string) (*store.CodeRecord, error) {
	rec, err := s.getCode(ctx, tx, digest)
	switch {
	case err == nil: // expired in between
		return nil, store.ErrNotFound
	case errors.Is(err, store.ErrCodeReplayed), errors.Is(err, store.ErrNotFound):
		return rec, err
	}
	return nil, s.fail(op, err)
}

// GetCode implements [store.GrantStore].
func (s *Store) GetCode(ctx context.Context, digest string) (*store.CodeRecord, error) {
	return s.getCode(ctx, s.r, digest)
}

// getCode reads a code through q: the readers, or the write transaction
// (which sees the batch's own writes).
func (s *Store) getCode(ctx context.Context, q querier, digest string) (*store.CodeRecord, error) {
	var consumed bool
	rec, err := scanCode(q.QueryRowContext(ctx, `SELECT `+codeCols+`, consumed_at IS NOT NULL FROM codes
		WHERE digest = ? AND expires_at > ?`, digest, micros(s.now())), &consumed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.fail("get code", err)
	case consumed:
		return rec, store.ErrCodeReplayed
	}
	return rec, nil
}

// RedeemCode implements [store.GrantStore] in one write transaction: the
// code's conditional UPDATE, the grants, the refresh token; any failure
// rolls all of it back.
func (s *Store) RedeemCode(ctx context.Context, digest string, r *store.Redemption) (*store.CodeRecord, error) {
	var rec *store.CodeRecord
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		rec, err = s.redeemCode(ctx, tx, digest, r)
		return err
	})
	return rec, err
}

func (s *Store) redeemCode(ctx context.Context, tx *sql.Tx, digest string, r *store.Redemption) (*store.CodeRecord, error) {
	rec, err := scanCode(tx.QueryRowContext(ctx, consumeCode, micros(s.now()), digest))
	if errors.Is(err, sql.ErrNoRows) {
		return s.unconsumable(ctx, tx, "redeem code", digest)
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
		ok, err := s.insertRefresh(ctx, tx, r.RefreshDigest, r.Refresh)
		if err != nil {
			return nil, s.fail("redeem code", err)
		}
		if !ok {
			return nil, store.ErrConflict
		}
	}
	return rec, nil
}

const grantCols = `id, client_id, subject, scopes, resource, created_at, expires_at, revoked_at, upstream_grant_id`

// CreateGrant implements [store.GrantStore].
func (s *Store) CreateGrant(ctx context.Context, g *store.GrantRecord) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.createGrant(ctx, tx, g) })
}

func (s *Store) createGrant(ctx context.Context, tx *sql.Tx, g *store.GrantRecord) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO grants (`+grantCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		g.ID, g.ClientID, g.Subject, scopes(g.Scopes), g.Resource,
		micros(g.CreatedAt), micros(g.ExpiresAt), nullMicros(g.RevokedAt), g.UpstreamGrantID)
	if err != nil {
		return s.fail("create grant", err)
	}
	if ok, err := changed(res); err != nil {
		return s.fail("create grant", err)
	} else if !ok {
		return store.ErrConflict
	}
	return nil
}

// GetGrant implements [store.GrantStore].
func (s *Store) GetGrant(ctx context.Context, id string) (*store.GrantRecord, error) {
	var (
		g                store.GrantRecord
		sc               string
		created, expires int64
		revoked          sql.NullInt64
	)
	err := s.queryRow(ctx, &s.st.getGrant, id, micros(s.now())).
		Scan(&g.ID, &g.ClientID, &g.Subject, &sc, &g.Resource, &created, &expires, &revoked, &g.UpstreamGrantID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.fail("get grant", err)
	}
	if g.Scopes, err = parseScopes(sc); err != nil {
		return nil, s.fail("get grant", err)
	}
	g.CreatedAt, g.ExpiresAt, g.RevokedAt = fromMicros(created), fromMicros(expires), fromNullMicros(revoked)
	return &g, nil
}

// RevokeGrant implements [store.GrantStore]. The grant's refresh tokens
// end with it: rotation and lookup check that their grant is live.
func (s *Store) RevokeGrant(ctx context.Context, id string, at time.Time) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.revokeGrant(ctx, tx, id, at) })
}

func (s *Store) revokeGrant(ctx context.Context, tx *sql.Tx, id string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
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

func scanRefresh(row scanner, extra ...any) (*store.RefreshRecord, error) {
	var (
		r                          store.RefreshRecord
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

// insertRefreshSQL inserts a refresh token unless its digest is taken.
const insertRefreshSQL = `INSERT INTO refresh_tokens (digest, ` + refreshCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`

func (s *Store) insertRefresh(ctx context.Context, tx *sql.Tx, digest string, rec *store.RefreshRecord) (bool, error) {
	var accessExp int64 // 0: none
	if !rec.AccessExpiresAt.IsZero() {
		accessExp = micros(rec.AccessExpiresAt)
	}
	res, err := tx.StmtContext(ctx, s.st.insertRefresh).ExecContext(ctx,
		digest, rec.GrantID, rec.ClientID, rec.Subject, scopes(rec.Scopes), rec.Resource,
		micros(rec.IssuedAt), micros(rec.ExpiresAt), rec.Upstream, rec.AccessTokenID, accessExp)
	if err != nil {
		return false, err
	}
	return changed(res)
}

// SaveRefresh implements [store.GrantStore].
func (s *Store) SaveRefresh(ctx context.Context, digest string, rec *store.RefreshRecord) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ok, err := s.insertRefresh(ctx, tx, digest, rec)
		if err != nil {
			return s.fail("save refresh token", err)
		}
		if !ok {
			return store.ErrConflict
		}
		return nil
	})
}

// RotateRefresh implements [store.GrantStore]. In one write transaction a
// conditional UPDATE retires the old token (only if unrotated, unexpired and
// its grant live) and the new token is inserted; either both happen or
// neither does. A retry within retryWindow kills the successor instead.
// The rotation shares its transaction with concurrent writes (group commit,
// groupcommit.go); the usual rotation is two prepared statements in it.
func (s *Store) RotateRefresh(ctx context.Context, oldDigest, newDigest string, next *store.RefreshRecord, retryWindow time.Duration) (*store.RefreshRecord, error) {
	var old *store.RefreshRecord
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		old, err = s.rotateRefresh(ctx, tx, oldDigest, newDigest, next, retryWindow)
		return err
	})
	return old, err
}

// rotateRefreshSQL retires a live, unrotated refresh token of a live grant.
const rotateRefreshSQL = `UPDATE refresh_tokens SET rotated_at = ?1, successor = ?3
	WHERE digest = ?2 AND rotated_at IS NULL AND expires_at > ?1 AND ` + liveGrant + `
	RETURNING ` + refreshCols

func (s *Store) rotateRefresh(ctx context.Context, tx *sql.Tx, oldDigest, newDigest string, next *store.RefreshRecord, retryWindow time.Duration) (*store.RefreshRecord, error) {
	now := micros(s.now())
	old, err := scanRefresh(tx.StmtContext(ctx, s.st.rotate).QueryRowContext(ctx, now, oldDigest, newDigest))
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
			return nil, store.ErrNotFound
		case err != nil:
			return nil, s.fail("rotate refresh token", err)
		case !live || !rotated:
			return nil, store.ErrNotFound
		case retryWindow <= 0 || now >= rotatedAt.Int64+retryWindow.Microseconds() ||
			next.ClientID != old.ClientID || successor.String == "":
			return old, store.ErrRefreshReused
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
			return old, store.ErrRefreshReused
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
	ok, err := s.insertRefresh(ctx, tx, newDigest, next)
	if err != nil {
		return nil, s.fail("rotate refresh token", err)
	}
	if !ok {
		return nil, store.ErrConflict // the rollback keeps the old token live
	}
	return old, nil
}

// GetRefresh implements [store.GrantStore].
func (s *Store) GetRefresh(ctx context.Context, digest string) (*store.RefreshRecord, error) {
	rec, err := scanRefresh(s.queryRow(ctx, &s.st.getRefresh, micros(s.now()), digest))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.fail("get refresh token", err)
	}
	return rec, nil
}

// LookupRefresh implements [store.GrantStore].
func (s *Store) LookupRefresh(ctx context.Context, digest string) (*store.RefreshRecord, error) {
	var rotated bool
	rec, err := scanRefresh(s.queryRow(ctx, &s.st.lookupRefresh, micros(s.now()), digest), &rotated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.fail("look up refresh token", err)
	case rotated:
		return rec, store.ErrRefreshReused
	}
	return rec, nil
}

// DenyToken implements [store.GrantStore]. A later until extends the entry.
func (s *Store) DenyToken(ctx context.Context, jti string, until time.Time) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.denyToken(ctx, tx, jti, until) })
}

func (s *Store) denyToken(ctx context.Context, tx *sql.Tx, jti string, until time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO denied_tokens (jti, expires_at) VALUES (?1, ?2)
		ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
		jti, micros(until))
	if err != nil {
		return s.fail("deny token", err)
	}
	return nil
}

// IsRevoked implements [store.GrantStore].
func (s *Store) IsRevoked(ctx context.Context, jti, grantID string) (bool, error) {
	var revoked bool
	err := s.queryRow(ctx, &s.st.isRevoked, jti, grantID).Scan(&revoked)
	if err != nil {
		return false, s.fail("is revoked", err)
	}
	return revoked, nil
}

const pendingCols = `client_id, redirect_uri, state, code_challenge, resource, scopes, subject, expires_at, upstream`

func scanPending(row scanner) (*store.PendingAuthorization, error) {
	var (
		p       store.PendingAuthorization
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

// SavePending implements [store.GrantStore].
func (s *Store) SavePending(ctx context.Context, digest string, p *store.PendingAuthorization) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.savePending(ctx, tx, digest, p) })
}

func (s *Store) savePending(ctx context.Context, tx *sql.Tx, digest string, p *store.PendingAuthorization) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO pending_authorizations (digest, `+pendingCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		digest, p.ClientID, p.RedirectURI, p.State, p.CodeChallenge, p.Resource,
		scopes(p.Scopes), p.Subject, micros(p.ExpiresAt), p.Upstream)
	if err != nil {
		return s.fail("save pending authorization", err)
	}
	if ok, err := changed(res); err != nil {
		return s.fail("save pending authorization", err)
	} else if !ok {
		return store.ErrConflict
	}
	return nil
}

// GetPending implements [store.GrantStore].
func (s *Store) GetPending(ctx context.Context, digest string) (*store.PendingAuthorization, error) {
	p, err := scanPending(s.r.QueryRowContext(ctx, `SELECT `+pendingCols+` FROM pending_authorizations
		WHERE digest = ? AND expires_at > ?`, digest, micros(s.now())))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.fail("get pending authorization", err)
	}
	return p, nil
}

// ConsumePending implements [store.GrantStore] with one DELETE … RETURNING.
func (s *Store) ConsumePending(ctx context.Context, digest string) (*store.PendingAuthorization, error) {
	var p *store.PendingAuthorization
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		p, err = scanPending(tx.QueryRowContext(ctx, `DELETE FROM pending_authorizations
			WHERE digest = ? AND expires_at > ? RETURNING `+pendingCols, digest, micros(s.now())))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return store.ErrNotFound
		case err != nil:
			return s.fail("consume pending authorization", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// TrimPending implements [store.GrantStore]. Rowids grow with insertion,
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

// DeleteExpired implements [store.GrantStore]. Each table is swept with
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

// Statements of the refresh and verification paths, prepared once (Open).
const (
	getRefreshSQL = `SELECT ` + refreshCols + ` FROM refresh_tokens
	WHERE digest = ?2 AND rotated_at IS NULL AND expires_at > ?1 AND ` + liveGrant
	lookupRefreshSQL = `SELECT ` + refreshCols + `, rotated_at IS NOT NULL FROM refresh_tokens
	WHERE digest = ?2 AND expires_at > ?1 AND ` + liveGrant
	getGrantSQL  = `SELECT ` + grantCols + ` FROM grants WHERE id = ? AND expires_at > ?`
	isRevokedSQL = `SELECT
	(?1 <> '' AND EXISTS (SELECT 1 FROM denied_tokens WHERE jti = ?1)) OR
	EXISTS (SELECT 1 FROM grants WHERE id = ?2 AND revoked_at IS NOT NULL)`
)

// statements are the prepared statements: the writer's are prepared in
// Open (on the connection the migrations used), the readers' on first use,
// so that Open opens no reader connection while another process may be
// migrating the file.
type statements struct {
	rotate, insertRefresh                          *sql.Stmt // writer
	getRefresh, lookupRefresh, isRevoked, getGrant readStmt  // readers
}

// readStmt is a reader statement prepared on first use.
type readStmt struct {
	query string
	mu    sync.Mutex
	st    atomic.Pointer[sql.Stmt]
}

// queryRow runs r on the readers, prepared once; should preparing fail, it
// runs the query unprepared, which reports the error at Scan.
func (s *Store) queryRow(ctx context.Context, r *readStmt, args ...any) *sql.Row {
	st := r.st.Load()
	if st == nil {
		r.mu.Lock()
		if st = r.st.Load(); st == nil {
			if p, err := s.r.PrepareContext(ctx, r.query); err == nil {
				st = p
				r.st.Store(p)
			}
		}
		r.mu.Unlock()
		if st == nil {
			return s.r.QueryRowContext(ctx, r.query, args...)
		}
	}
	return st.QueryRowContext(ctx, args...)
}

// prepare prepares the writer's statements and names the readers'; call it
// after the migrations.
func (s *Store) prepare(ctx context.Context) error {
	s.st.getRefresh.query, s.st.lookupRefresh.query = getRefreshSQL, lookupRefreshSQL
	s.st.isRevoked.query, s.st.getGrant.query = isRevokedSQL, getGrantSQL
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.st.rotate, rotateRefreshSQL},
		{&s.st.insertRefresh, insertRefreshSQL},
	} {
		st, err := s.w.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		*p.dst = st
	}
	return nil
}

// closeStatements closes the prepared statements.
func (s *Store) closeStatements() error {
	var err error
	for _, st := range []*sql.Stmt{s.st.rotate, s.st.insertRefresh, s.st.getRefresh.st.Load(),
		s.st.lookupRefresh.st.Load(), s.st.isRevoked.st.Load(), s.st.getGrant.st.Load()} {
		if st != nil {
			err = errors.Join(err, st.Close())
		}
	}
	return err
}
