package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mcpauth/mcpauth"
)

// GetClient implements [mcpauth.ClientStore].
func (s *Store) GetClient(ctx context.Context, id string) (*mcpauth.Client, error) {
	var secret, meta []byte
	err := s.pool.QueryRow(ctx, s.q.sql[qGetClient], id).Scan(&secret, &meta)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, mcpauth.ErrNotFound
	case err != nil:
		return nil, s.fail("get client", err)
	}
	var c mcpauth.Client
	if err := json.Unmarshal(meta, &c); err != nil {
		return nil, fmt.Errorf("postgres: get client %q: metadata: %w", id, err)
	}
	c.ID, c.SecretDigest = id, secret
	return &c, nil
}

// SetClient implements [mcpauth.ClientStore]. The secret digest has its own
// column; the rest of the metadata is stored as JSON.
func (s *Store) SetClient(ctx context.Context, c *mcpauth.Client) error {
	cp := *c
	cp.SecretDigest, cp.ClientSecret = nil, ""
	meta, err := json.Marshal(&cp)
	if err != nil {
		return fmt.Errorf("postgres: set client: %w", err)
	}
	return s.exec(ctx, "set client", qSetClient, c.ID, c.SecretDigest, string(meta))
}

// DeleteClient implements [mcpauth.ClientStore].
func (s *Store) DeleteClient(ctx context.Context, id string) (bool, error) {
	tag, err := s.pool.Exec(ctx, s.q.sql[qDeleteClient], id)
	if err != nil {
		return false, s.fail("delete client", err)
	}
	return tag.RowsAffected() > 0, nil
}
