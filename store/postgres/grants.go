package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpauth/mcpauth/store"
)

// insert runs an INSERT … ON CONFLICT DO NOTHING; a conflict is ErrConflict.
func (s *Store) insert(ctx context.Context, op string, q query, args ...any) error {
	tag, err := s.pool.Exec(ctx, s.q.sql[q], args...)
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrConflict
	}
	return nil
}

// exec runs a statement whose row count does not matter.
func (s *Store) exec(ctx context.Context, op string, q query, args ...any) error {
	if _, err := s.pool.Exec(ctx, s.q.sql[q], args...); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// scanCode scans codeCols after the extra leading destinations.
func scanCode(row pgx.Row, lead ...any) (*store.CodeRecord, error) {
	var r store.CodeRecord
	err := row.Scan(append(lead, &r.GrantID, &r.ClientID, &r.Subject, &r.RedirectURI, &r.CodeChallenge,
		&r.Resource, &r.Scopes, &r.AuthTime, &r.ExpiresAt, &r.Upstream)...)
	r.Scopes, r.AuthTime, r.ExpiresAt = orNil(r.Scopes), utc(r.AuthTime), utc(r.ExpiresAt)
	return &r, err
}

// SaveCode implements [store.GrantStore].
func (s *Store) SaveCode(ctx context.Context, digest string, rec *store.CodeRecord) error {
	return s.insert(ctx, "save code", qSaveCode, digest, rec.GrantID, rec.ClientID, rec.Subject,
		rec.RedirectURI, rec.CodeChallenge, rec.Resource, scopes(rec.Scopes), rec.AuthTime, rec.ExpiresAt, rec.Upstream)
}

// ConsumeCode implements [store.GrantStore] with one conditional UPDATE
// (see the statement for how a replay is told from an unknown code).
func (s *Store) ConsumeCode(ctx context.Context, digest string) (*store.CodeRecord, error) {
	var won bool
	rec, err := scanCode(s.pool.QueryRow(ctx, s.q.sql[qConsumeCode], digest, s.now()), &won)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.fail("consume code", err)
	case !won:
		return rec, store.ErrCodeReplayed
	}
	return rec, nil
}

// GetCode implements [store.GrantStore].
func (s *Store) GetCode(ctx context.Context, digest string) (*store.CodeRecord, error) {
	var consumed bool
	rec, err := scanCode(s.pool.QueryRow(ctx, s.q.sql[qGetCode], digest, s.now()), &consumed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.fail("get code", err)
	case consumed:
		return rec, store.ErrCodeReplayed
	}
	return rec, nil
}

// RedeemCode implements [store.GrantStore] in one transaction: the code's
// conditional UPDATE (holding its row lock), the grants, the refresh token.
// Any failure rolls all of it back.
func (s *Store) RedeemCode(ctx context.Context, digest string, r *store.Redemption) (*store.CodeRecord, error) {
	var (
		rec      *store.CodeRecord
		unusable bool
		conflict bool
		now      = s.now()
	)
	err := s.inTx(ctx, "redeem code", func(tx pgx.Tx) error {
		var err error
		rec, err = scanCode(tx.QueryRow(ctx, s.q.sql[qRedeemCode], digest, now))
		if errors.Is(err, pgx.ErrNoRows) {
			unusable = true
			return errRollback
		}
		if err != nil {
			return err
		}
		for _, g := range r.Grants {
			if _, err := tx.Exec(ctx, s.q.sql[qCreateGrant], g.ID, g.ClientID, g.Subject, scopes(g.Scopes),
				g.Resource, g.CreatedAt, g.ExpiresAt, nullTime(g.RevokedAt), g.UpstreamGrantID); err != nil {
				return err
			}
		}
		if r.Refresh != nil {
			rf := r.Refresh
			tag, err := tx.Exec(ctx, s.q.sql[qSaveRefresh], r.RefreshDigest, rf.GrantID, rf.ClientID, rf.Subject,
				scopes(rf.Scopes), rf.Resource, rf.IssuedAt, rf.ExpiresAt, rf.Upstream,
				rf.AccessTokenID, nullTime(rf.AccessExpiresAt))
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				conflict = true
				return errRollback
			}
		}
		return nil
	})
	switch {
	case unusable:
		// Consumed (a replay), expired or unknown: the read tells which.
		rec, err := s.GetCode(ctx, digest)
		if err == nil { // expired in between
			return nil, store.ErrNotFound
		}
		return rec, err
	case conflict:
		return nil, store.ErrConflict
	case err != nil:
		return nil, err
	}
	return rec, nil
}

// errRollback makes inTx roll back without an error of its own.
var errRollback = errors.New("rollback")

// CreateGrant implements [store.GrantStore].
func (s *Store) CreateGrant(ctx context.Context, g *store.GrantRecord) error {
	return s.insert(ctx, "create grant", qCreateGrant, g.ID, g.ClientID, g.Subject, scopes(g.Scopes),
		g.Resource, g.CreatedAt, g.ExpiresAt, nullTime(g.RevokedAt), g.UpstreamGrantID)
}

// GetGrant implements [store.GrantStore].
func (s *Store) GetGrant(ctx context.Context, id string) (*store.GrantRecord, error) {
	var (
		g       store.GrantRecord
		revoked *time.Time
	)
	err := s.pool.QueryRow(ctx, s.q.sql[qGetGrant], id, s.now()).Scan(&g.ID, &g.ClientID, &g.Subject,
		&g.Scopes, &g.Resource, &g.CreatedAt, &g.ExpiresAt, &revoked, &g.UpstreamGrantID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.fail("get grant", err)
	}
	g.Scopes, g.CreatedAt, g.ExpiresAt, g.RevokedAt = orNil(g.Scopes), utc(g.CreatedAt), utc(g.ExpiresAt), fromNullTime(revoked)
	return &g, nil
}

// RevokeGrant implements [store.GrantStore]. The grant's refresh tokens
// end with it: rotation and lookup check that their grant is live.
func (s *Store) RevokeGrant(ctx context.Context, id string, at time.Time) error {
	return s.exec(ctx, "revoke grant", qRevokeGrant, id, at)
}

// scanRefresh scans refreshCols after the extra leading destinations.
func scanRefresh(row pgx.Row, lead ...any) (*store.RefreshRecord, error) {
	var (
		r         store.RefreshRecord
		accessExp *time.Time
	)
	err := row.Scan(append(lead, &r.GrantID, &r.ClientID, &r.Subject, &r.Scopes, &r.Resource,
		&r.IssuedAt, &r.ExpiresAt, &r.Upstream, &r.AccessTokenID, &accessExp)...)
	r.Scopes, r.IssuedAt, r.ExpiresAt = orNil(r.Scopes), utc(r.IssuedAt), utc(r.ExpiresAt)
	r.AccessExpiresAt = fromNullTime(accessExp)
	return &r, err
}

// SaveRefresh implements [store.GrantStore].
func (s *Store) SaveRefresh(ctx context.Context, digest string, rec *store.RefreshRecord) error {
	return s.insert(ctx, "save refresh token", qSaveRefresh, digest, rec.GrantID, rec.ClientID, rec.Subject,
		scopes(rec.Scopes), rec.Resource, rec.IssuedAt, rec.ExpiresAt, rec.Upstream,
		rec.AccessTokenID, nullTime(rec.AccessExpiresAt))
}

// RotateRefresh implements [store.GrantStore] with one statement that
// retires the old token and inserts the new one, or does neither. A reuse
// within retryWindow gets a second look in a transaction (retry).
func (s *Store) RotateRefresh(ctx context.Context, oldDigest, newDigest string, next *store.RefreshRecord, retryWindow time.Duration) (*store.RefreshRecord, error) {
	var won bool
	now := s.now()
	old, err := scanRefresh(s.pool.QueryRow(ctx, s.q.sql[qRotateRefresh], oldDigest, newDigest, now,
		next.GrantID, next.ClientID, next.Subject, scopes(next.Scopes), next.Resource,
		next.IssuedAt, next.ExpiresAt, next.Upstream, next.AccessTokenID, nullTime(next.AccessExpiresAt)), &won)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.ErrNotFound
	case isUniqueViolation(err):
		return nil, store.ErrConflict // the statement failed whole: the old token is untouched
	case err != nil:
		return nil, s.fail("rotate refresh token", err)
	case !won && (retryWindow <= 0 || next.ClientID != old.ClientID):
		return old, store.ErrRefreshReused
	case !won:
		return s.retryRotation(ctx, oldDigest, newDigest, next, old, now, retryWindow)
	}
	return old, nil
}

// retryRotation rotates a rotated token again when it was rotated less than
// window ago and its successor was never used: the successor dies, next
// takes its place. Anything else is reuse.
func (s *Store) retryRotation(ctx context.Context, oldDigest, newDigest string, next, old *store.RefreshRecord, now time.Time, window time.Duration) (*store.RefreshRecord, error) {
	var reused, conflict bool
	err := s.inTx(ctx, "rotate refresh token", func(tx pgx.Tx) error {
		var (
			rotatedAt time.Time
			successor *string
		)
		err := tx.QueryRow(ctx, s.q.sql[qRetryLock], oldDigest).Scan(&rotatedAt, &successor)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && (successor == nil || !now.Before(rotatedAt.Add(window)))) {
			reused = true
			return errRollback
		}
		if err != nil {
			return err
		}
		var (
			jti       string
			accessExp *time.Time
		)
		err = tx.QueryRow(ctx, s.q.sql[qKillSuccessor], *successor, now).Scan(&jti, &accessExp)
		if errors.Is(err, pgx.ErrNoRows) { // the successor was used: not a lost answer
			reused = true
			return errRollback
		}
		if err != nil {
			return err
		}
		if jti != "" && accessExp != nil { // its access token dies with it
			if _, err := tx.Exec(ctx, s.q.sql[qDenyToken], jti, *accessExp); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, s.q.sql[qSetSuccessor], oldDigest, newDigest); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, s.q.sql[qSaveRefresh], newDigest, next.GrantID, next.ClientID, next.Subject,
			scopes(next.Scopes), next.Resource, next.IssuedAt, next.ExpiresAt, next.Upstream,
			next.AccessTokenID, nullTime(next.AccessExpiresAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			conflict = true
			return errRollback
		}
		return nil
	})
	switch {
	case reused:
		return old, store.ErrRefreshReused
	case conflict:
		return nil, store.ErrConflict
	case err != nil:
		return nil, err
	}
	return old, nil
}

// GetRefresh implements [store.GrantStore].
func (s *Store) GetRefresh(ctx context.Context, digest string) (*store.RefreshRecord, error) {
	rec, err := scanRefresh(s.pool.QueryRow(ctx, s.q.sql[qGetRefresh], digest, s.now()))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.fail("get refresh token", err)
	}
	return rec, nil
}

// LookupRefresh implements [store.GrantStore].
func (s *Store) LookupRefresh(ctx context.Context, digest string) (*store.RefreshRecord, error) {
	var rotated bool
	rec, err := scanRefresh(s.pool.QueryRow(ctx, s.q.sql[qLookupRefresh], digest, s.now()), &rotated)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
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
	return s.exec(ctx, "deny token", qDenyToken, jti, until)
}

// IsRevoked implements [store.GrantStore].
func (s *Store) IsRevoked(ctx context.Context, jti, grantID string) (bool, error) {
	var revoked bool
	if err := s.pool.QueryRow(ctx, s.q.sql[qIsRevoked], jti, grantID).Scan(&revoked); err != nil {
		return false, s.fail("is revoked", err)
	}
	return revoked, nil
}

func scanPending(row pgx.Row) (*store.PendingAuthorization, error) {
	var p store.PendingAuthorization
	err := row.Scan(&p.ClientID, &p.RedirectURI, &p.State, &p.CodeChallenge, &p.Resource,
		&p.Scopes, &p.Subject, &p.ExpiresAt, &p.Upstream)
	p.Scopes, p.ExpiresAt = orNil(p.Scopes), utc(p.ExpiresAt)
	return &p, err
}

// SavePending implements [store.GrantStore].
func (s *Store) SavePending(ctx context.Context, digest string, p *store.PendingAuthorization) error {
	return s.insert(ctx, "save pending authorization", qSavePending, digest, p.ClientID, p.RedirectURI,
		p.State, p.CodeChallenge, p.Resource, scopes(p.Scopes), p.Subject, p.ExpiresAt, p.Upstream)
}

// GetPending implements [store.GrantStore].
func (s *Store) GetPending(ctx context.Context, digest string) (*store.PendingAuthorization, error) {
	return s.pending(ctx, "get pending authorization", qGetPending, digest)
}

// ConsumePending implements [store.GrantStore] with one DELETE … RETURNING.
func (s *Store) ConsumePending(ctx context.Context, digest string) (*store.PendingAuthorization, error) {
	return s.pending(ctx, "consume pending authorization", qConsumePending, digest)
}

func (s *Store) pending(ctx context.Context, op string, q query, digest string) (*store.PendingAuthorization, error) {
	p, err := scanPending(s.pool.QueryRow(ctx, s.q.sql[q], digest, s.now()))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.fail(op, err)
	}
	return p, nil
}

// TrimPending implements [store.GrantStore] with one range DELETE on the
// insertion sequence.
func (s *Store) TrimPending(ctx context.Context, keep int) (int, error) {
	tag, err := s.pool.Exec(ctx, s.q.sql[qTrimPending], keep)
	if err != nil {
		return 0, s.fail("trim pending authorizations", err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteExpired implements [store.GrantStore]. Each table is swept with
// one bounded DELETE that skips rows other transactions hold, so replicas
// may sweep at the same time.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	n := 0
	for i, table := range expiring {
		if n >= limit {
			break
		}
		tag, err := s.pool.Exec(ctx, s.q.deleteExpired[i], now, limit-n)
		if err != nil {
			return n, s.fail("delete expired "+table, err)
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}
