package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// GetClient implements [store.ClientStore].
func (s *Store) GetClient(ctx context.Context, id string) (*store.Client, error) {
	var (
		secret   []byte
		meta     string
		lastUsed sql.NullInt64
	)
	err := s.r.QueryRowContext(ctx, `SELECT secret_digest, metadata, last_used_at FROM clients WHERE id = ?`, id).
		Scan(&secret, &meta, &lastUsed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.fail("get client", err)
	}
	var c store.Client
	if err := json.Unmarshal([]byte(meta), &c); err != nil {
		return nil, fmt.Errorf("sqlite: get client %q: metadata: %w", id, err)
	}
	c.ID, c.SecretDigest = id, secret
	if t := fromNullMicros(lastUsed); t.After(lastUsedAt(&c)) {
		c.LastUsedAt = t // set by the migration for clients older than it
	}
	return &c, nil
}

// SetClient implements [store.ClientStore]. The secret digest has its own
// column; the rest of the metadata is stored as JSON.
func (s *Store) SetClient(ctx context.Context, c *store.Client) error {
	cp := *c
	cp.SecretDigest, cp.ClientSecret = nil, ""
	meta, err := json.Marshal(&cp)
	if err != nil {
		return fmt.Errorf("sqlite: set client: %w", err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO clients (id, secret_digest, metadata, last_used_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET secret_digest = excluded.secret_digest, metadata = excluded.metadata,
			last_used_at = excluded.last_used_at`,
		c.ID, c.SecretDigest, string(meta), nullMicros(lastUsedAt(c)))
	if err != nil {
		return s.fail("set client", err)
	}
	return nil
}

// DeleteClient implements [store.ClientStore].
func (s *Store) DeleteClient(ctx context.Context, id string) (bool, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
	if err != nil {
		return false, s.fail("delete client", err)
	}
	ok, err := changed(res)
	if err != nil {
		return false, s.fail("delete client", err)
	}
	return ok, nil
}

// lastUsedAt is the client's LastUsedAt, or IssuedAt when unset.
func lastUsedAt(c *store.Client) time.Time {
	if c.LastUsedAt.IsZero() {
		return c.IssuedAt
	}
	return c.LastUsedAt
}

// DeleteUnusedClients implements [store.ClientSweeper].
func (s *Store) DeleteUnusedClients(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM clients WHERE rowid IN
		(SELECT rowid FROM clients WHERE last_used_at < ? LIMIT ?)`, micros(before), limit)
	if err != nil {
		return 0, s.fail("delete unused clients", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail("delete unused clients", err)
	}
	return int(n), nil
}
