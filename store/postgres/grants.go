package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mcpauth/mcpauth"
)

// insert runs an INSERT … ON CONFLICT DO NOTHING; a conflict is ErrConflict.
func (s *Store) insert(ctx context.Context, op string, q query, args ...any) error {
	tag, err := s.pool.Exec(ctx, s.q.sql[q], args...)
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return mcpauth.ErrConflict
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
func scanCode(row pgx.Row, lead ...any) (*mcpauth.CodeRecord, error) {
	var r mcpauth.CodeRecord
	err := row.Scan(append(lead, &r.GrantID, &r.ClientID, &r.Subject, &r.RedirectURI, &r.CodeChallenge,
		&r.Resource, &r.Scopes, &r.AuthTime, &r.ExpiresAt, &r.Upstream)...)
	r.Scopes, r.AuthTime, r.ExpiresAt = orNil(r.Scopes), utc(r.AuthTime), utc(r.ExpiresAt)
	return &r, err
}

// SaveCode implements [mcpauth.GrantStore].
func (s *Store) SaveCode(ctx context.Context, digest string, rec *mcpauth.CodeRecord) error {
	return s.insert(ctx, "save code", qSaveCode, digest, rec.GrantID, rec.ClientID, rec.Subject,
		rec.RedirectURI, rec.CodeChallenge, rec.Resource, scopes(rec.Scopes), rec.AuthTime, rec.ExpiresAt, rec.Upstream)
}

// ConsumeCode implements [mcpauth.GrantStore] with one conditional UPDATE
// (see the statement for how a replay is told from an unknown code).
func (s *Store) ConsumeCode(ctx context.Context, digest string) (*mcpauth.CodeRecord, error) {
	var won bool
	rec, err := scanCode(s.pool.QueryRow(ctx, s.q.sql[qConsumeCode], digest, s.now()), &won)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, mcpauth.ErrNotFound
	case err != nil:
		return nil, s.fail("consume code", err)
	case !won:
		return rec, mcpauth.ErrCodeReplayed
	}
	return rec, nil
}

// CreateGrant implements [mcpauth.GrantStore].
func (s *Store) CreateGrant(ctx context.Context, g *mcpauth.GrantRecord) error {
	return s.insert(ctx, "create grant", qCreateGrant, g.ID, g.ClientID, g.Subject, scopes(g.Scopes),
		g.Resource, g.CreatedAt, g.ExpiresAt, nullTime(g.RevokedAt), g.UpstreamGrantID)
}

// GetGrant implements [mcpauth.GrantStore].
func (s *Store) GetGrant(ctx context.Context, id string) (*mcpauth.GrantRecord, error) {
	var (
		g       mcpauth.GrantRecord
		revoked *time.Time
	)
	err := s.pool.QueryRow(ctx, s.q.sql[qGetGrant], id, s.now()).Scan(&g.ID, &g.ClientID, &g.Subject,
		&g.Scopes, &g.Resource, &g.CreatedAt, &g.ExpiresAt, &revoked, &g.UpstreamGrantID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, mcpauth.ErrNotFound
	case err != nil:
		return nil, s.fail("get grant", err)
	}
	g.Scopes, g.CreatedAt, g.ExpiresAt, g.RevokedAt = orNil(g.Scopes), utc(g.CreatedAt), utc(g.ExpiresAt), fromNullTime(revoked)
	return &g, nil
}

// RevokeGrant implements [mcpauth.GrantStore]. The grant's refresh tokens
// end with it: rotation and lookup check that their grant is live.
func (s *Store) RevokeGrant(ctx context.Context, id string, at time.Time) error {
	return s.exec(ctx, "revoke grant", qRevokeGrant, id, at)
}

// scanRefresh scans refreshCols after the extra leading destinations.
func scanRefresh(row pgx.Row, lead ...any) (*mcpauth.RefreshRecord, error) {
	var r mcpauth.RefreshRecord
	err := row.Scan(append(lead, &r.GrantID, &r.ClientID, &r.Subject, &r.Scopes, &r.Resource,
		&r.IssuedAt, &r.ExpiresAt, &r.Upstream)...)
	r.Scopes, r.IssuedAt, r.ExpiresAt = orNil(r.Scopes), utc(r.IssuedAt), utc(r.ExpiresAt)
	return &r, err
}

// SaveRefresh implements [mcpauth.GrantStore].
func (s *Store) SaveRefresh(ctx context.Context, digest string, rec *mcpauth.RefreshRecord) error {
	return s.insert(ctx, "save refresh token", qSaveRefresh, digest, rec.GrantID, rec.ClientID, rec.Subject,
		scopes(rec.Scopes), rec.Resource, rec.IssuedAt, rec.ExpiresAt, rec.Upstream)
}

// RotateRefresh implements [mcpauth.GrantStore] with one statement that
// retires the old token and inserts the new one, or does neither.
func (s *Store) RotateRefresh(ctx context.Context, oldDigest, newDigest string, next *mcpauth.RefreshRecord) (*mcpauth.RefreshRecord, error) {
	var won bool
	old, err := scanRefresh(s.pool.QueryRow(ctx, s.q.sql[qRotateRefresh], oldDigest, newDigest, s.now(),
		next.GrantID, next.ClientID, next.Subject, scopes(next.Scopes), next.Resource,
		next.IssuedAt, next.ExpiresAt, next.Upstream), &won)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, mcpauth.ErrNotFound
	case isUniqueViolation(err):
		return nil, mcpauth.ErrConflict // the statement failed whole: the old token is untouched
	case err != nil:
		return nil, s.fail("rotate refresh token", err)
	case !won:
		return old, mcpauth.ErrRefreshReused
	}
	return old, nil
}

// GetRefresh implements [mcpauth.GrantStore].
func (s *Store) GetRefresh(ctx context.Context, digest string) (*mcpauth.RefreshRecord, error) {
	rec, err := scanRefresh(s.pool.QueryRow(ctx, s.q.sql[qGetRefresh], digest, s.now()))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, mcpauth.ErrNotFound
	case err != nil:
		return nil, s.fail("get refresh token", err)
	}
	return rec, nil
}

// DenyToken implements [mcpauth.GrantStore]. A later until extends the entry.
func (s *Store) DenyToken(ctx context.Context, jti string, until time.Time) error {
	return s.exec(ctx, "deny token", qDenyToken, jti, until)
}

// IsRevoked implements [mcpauth.GrantStore].
func (s *Store) IsRevoked(ctx context.Context, jti, grantID string) (bool, error) {
	var revoked bool
	if err := s.pool.QueryRow(ctx, s.q.sql[qIsRevoked], jti, grantID).Scan(&revoked); err != nil {
		return false, s.fail("is revoked", err)
	}
	return revoked, nil
}

func scanPending(row pgx.Row) (*mcpauth.PendingAuthorization, error) {
	var p mcpauth.PendingAuthorization
	err := row.Scan(&p.ClientID, &p.RedirectURI, &p.State, &p.CodeChallenge, &p.Resource,
		&p.Scopes, &p.Subject, &p.ExpiresAt, &p.Upstream)
	p.Scopes, p.ExpiresAt = orNil(p.Scopes), utc(p.ExpiresAt)
	return &p, err
}

// SavePending implements [mcpauth.GrantStore].
func (s *Store) SavePending(ctx context.Context, digest string, p *mcpauth.PendingAuthorization) error {
	return s.insert(ctx, "save pending authorization", qSavePending, digest, p.ClientID, p.RedirectURI,
		p.State, p.CodeChallenge, p.Resource, scopes(p.Scopes), p.Subject, p.ExpiresAt, p.Upstream)
}

// GetPending implements [mcpauth.GrantStore].
func (s *Store) GetPending(ctx context.Context, digest string) (*mcpauth.PendingAuthorization, error) {
	return s.pending(ctx, "get pending authorization", qGetPending, digest)
}

// ConsumePending implements [mcpauth.GrantStore] with one DELETE … RETURNING.
func (s *Store) ConsumePending(ctx context.Context, digest string) (*mcpauth.PendingAuthorization, error) {
	return s.pending(ctx, "consume pending authorization", qConsumePending, digest)
}

func (s *Store) pending(ctx context.Context, op string, q query, digest string) (*mcpauth.PendingAuthorization, error) {
	p, err := scanPending(s.pool.QueryRow(ctx, s.q.sql[q], digest, s.now()))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, mcpauth.ErrNotFound
	case err != nil:
		return nil, s.fail(op, err)
	}
	return p, nil
}

// DeleteExpired implements [mcpauth.GrantStore]. Each table is swept with
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
