package sqlite

// This file implements the listing roles ([store.ClientLister],
// [store.GrantLister]) the admin API pages through. SQLite compares TEXT
// in byte order (BINARY), the order the roles promise.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/mcpauth/mcpauth/store"
)

// ListClients implements [store.ClientLister].
func (s *Store) ListClients(ctx context.Context, after string, limit int) ([]*store.Client, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, secret_digest, metadata, last_used_at FROM clients
		WHERE id > ? ORDER BY id LIMIT ?`, after, max(limit, 0))
	if err != nil {
		return nil, s.fail("list clients", err)
	}
	defer rows.Close()
	var out []*store.Client
	for rows.Next() {
		var (
			id       string
			secret   []byte
			meta     string
			lastUsed sql.NullInt64
			c        store.Client
		)
		if err := rows.Scan(&id, &secret, &meta, &lastUsed); err != nil {
			return nil, s.fail("list clients", err)
		}
		if err := json.Unmarshal([]byte(meta), &c); err != nil {
			return nil, fmt.Errorf("sqlite: list clients: %q: metadata: %w", id, err)
		}
		c.ID, c.SecretDigest = id, secret
		if t := fromNullMicros(lastUsed); t.After(lastUsedAt(&c)) {
			c.LastUsedAt = t
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
	q, args := `SELECT `+grantCols+` FROM grants WHERE id > ? AND expires_at > ?`, []any{after, micros(s.now())}
	if f.Subject != "" {
		q, args = q+` AND subject = ?`, append(args, f.Subject)
	}
	if f.ClientID != "" {
		q, args = q+` AND client_id = ?`, append(args, f.ClientID)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id LIMIT ?`, append(args, max(limit, 0))...)
	if err != nil {
		return nil, s.fail("list grants", err)
	}
	defer rows.Close()
	var out []*store.GrantRecord
	for rows.Next() {
		var (
			g                store.GrantRecord
			sc               string
			created, expires int64
			revoked          sql.NullInt64
		)
		if err := rows.Scan(&g.ID, &g.ClientID, &g.Subject, &sc, &g.Resource, &created, &expires, &revoked, &g.UpstreamGrantID); err != nil {
			return nil, s.fail("list grants", err)
		}
		if g.Scopes, err = parseScopes(sc); err != nil {
			return nil, s.fail("list grants", err)
		}
		g.CreatedAt, g.ExpiresAt, g.RevokedAt = fromMicros(created), fromMicros(expires), fromNullMicros(revoked)
		out = append(out, &g)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list grants", err)
	}
	return out, nil
}
