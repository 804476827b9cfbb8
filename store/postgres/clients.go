package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpauth/mcpauth/store"
)

// GetClient implements [store.ClientStore].
func (s *Store) GetClient(ctx context.Context, id string) (*store.Client, error) {
	var (
		secret, meta []byte
		lastUsed     *time.Time
	)
	err := s.pool.QueryRow(ctx, s.q.sql[qGetClient], id).Scan(&secret, &meta, &lastUsed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.ErrNotFound
	case err != nil:
		return nil, s.fail("get client", err)
	}
	var c store.Client
	if err := json.Unmarshal(meta, &c); err != nil {
		return nil, fmt.Errorf("postgres: get client %q: metadata: %w", id, err)
	}
	c.ID, c.SecretDigest = id, secret
	if t := fromNullTime(lastUsed); t.After(lastUsedAt(&c)) {
		c.LastUsedAt = utc(t) // set by the migration for clients older than it
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
		return fmt.Errorf("postgres: set client: %w", err)
	}
	return s.exec(ctx, "set client", qSetClient, c.ID, c.SecretDigest, string(meta), nullTime(lastUsedAt(c)))
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
	tag, err := s.pool.Exec(ctx, s.q.sql[qDeleteUnusedClients], before, limit)
	if err != nil {
		return 0, s.fail("delete unused clients", err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteClient implements [store.ClientStore].
func (s *Store) DeleteClient(ctx context.Context, id string) (bool, error) {
	tag, err := s.pool.Exec(ctx, s.q.sql[qDeleteClient], id)
	if err != nil {
		return false, s.fail("delete client", err)
	}
	return tag.RowsAffected() > 0, nil
}
