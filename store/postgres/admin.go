package postgres

// This file implements the listing roles ([store.ClientLister],
// [store.GrantLister]) the admin API pages through. Ids are compared
// COLLATE "C" (byte order, the order the roles promise, whatever the
// database's collation); the 0003 migration indexes that order.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mcpauth/mcpauth/store"
)

// ListClients implements [store.ClientLister].
func (s *Store) ListClients(ctx context.Context, after string, limit int) ([]*store.Client, error) {
	q := strings.ReplaceAll(`SELECT id, secret_digest, metadata, last_used_at FROM {s}.clients
		WHERE id COLLATE "C" > $1 ORDER BY id COLLATE "C" LIMIT $2`, "{s}", pgx.Identifier{s.schema}.Sanitize())
	rows, err := s.pool.Query(ctx, q, after, max(limit, 0))
	if err != nil {
		return nil, s.fail("list clients", err)
	}
	defer rows.Close()
	var out []*store.Client
	for rows.Next() {
		var (
			id           string
			secret, meta []byte
			lastUsed     *time.Time
			c            store.Client
		)
		if err := rows.Scan(&id, &secret, &meta, &lastUsed); err != nil {
			return nil, s.fail("list clients", err)
		}
		if err := json.Unmarshal(meta, &c); err != nil {
			return nil, fmt.Errorf("postgres: list clients: %q: metadata: %w", id, err)
		}
		c.ID, c.SecretDigest = id, secret
		if t := fromNullTime(lastUsed); t.After(lastUsedAt(&c)) {
			c.LastUsedAt = utc(t)
		}
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list clients", err)
	}
	return out, nil
}

// ListGrants implements [store.GrantLister].
func (s *Store) ListGrants(ctx context.Context, f store.GrantFilter, after string, limit int) ([]*store.GrantRecord, error) {
	// Only the filters given, so the planner can use the (subject, id) and
	// (client_id, id) indexes.
	q := `SELECT ` + grantCols + ` FROM ` + pgx.Identifier{s.schema}.Sanitize() + `.grants WHERE id COLLATE "C" > $1 AND expires_at > $2`
	args := []any{after, s.now()}
	if f.Subject != "" {
		args = append(args, f.Subject)
		q += fmt.Sprintf(` AND subject = $%d`, len(args))
	}
	if f.ClientID != "" {
		args = append(args, f.ClientID)
		q += fmt.Sprintf(` AND client_id = $%d`, len(args))
	}
	args = append(args, max(limit, 0))
	q += fmt.Sprintf(` ORDER BY id COLLATE "C" LIMIT $%d`, len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.fail("list grants", err)
	}
	defer rows.Close()
	var out []*store.GrantRecord
	for rows.Next() {
		var (
			g       store.GrantRecord
			revoked *time.Time
		)
		if err := rows.Scan(&g.ID, &g.ClientID, &g.Subject, &g.Scopes, &g.Resource, &g.CreatedAt, &g.ExpiresAt, &revoked, &g.UpstreamGrantID); err != nil {
			return nil, s.fail("list grants", err)
		}
		g.Scopes, g.CreatedAt, g.ExpiresAt, g.RevokedAt = orNil(g.Scopes), utc(g.CreatedAt), utc(g.ExpiresAt), fromNullTime(revoked)
		out = append(out, &g)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list grants", err)
	}
	return out, nil
}
