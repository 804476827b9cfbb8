package sqlite

// This file implements the delegation role ([mcpauth.DelegationStore]).

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mcpauth/mcpauth"
)

// CreateDelegatedGrant implements [mcpauth.DelegationStore]. The single
// writer serializes it with RevokeGrantTree.
func (s *Store) CreateDelegatedGrant(ctx context.Context, parentID string, g *mcpauth.GrantRecord) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("create delegated grant", err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM grants WHERE id = ? AND revoked_at IS NULL AND expires_at > ?`,
		parentID, micros(s.now())).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return mcpauth.ErrNotFound
	case err != nil:
		return s.fail("create delegated grant", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO grants (`+grantCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		g.ID, g.ClientID, g.Subject, scopes(g.Scopes), g.Resource,
		micros(g.CreatedAt), micros(g.ExpiresAt), nullMicros(g.RevokedAt), g.UpstreamGrantID)
	if err != nil {
		return s.fail("create delegated grant", err)
	}
	if ok, err := changed(res); err != nil {
		return s.fail("create delegated grant", err)
	} else if !ok {
		return mcpauth.ErrConflict
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO grant_delegations (child_id, parent_id) VALUES (?, ?)`, g.ID, parentID); err != nil {
		return s.fail("create delegated grant", err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail("create delegated grant", err)
	}
	return nil
}

// RevokeGrantTree implements [mcpauth.DelegationStore] with one recursive
// UPDATE.
func (s *Store) RevokeGrantTree(ctx context.Context, id string, at time.Time) ([]string, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.fail("revoke grant tree", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `WITH RECURSIVE tree(id) AS (
			SELECT ?1
			UNION SELECT d.child_id FROM grant_delegations d JOIN tree ON d.parent_id = tree.id)
		SELECT id FROM tree`, id)
	if err != nil {
		return nil, s.fail("revoke grant tree", err)
	}
	var tree []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return nil, s.fail("revoke grant tree", err)
		}
		tree = append(tree, g)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("revoke grant tree", err)
	}
	for _, g := range tree {
		if _, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, micros(at), g); err != nil {
			return nil, s.fail("revoke grant tree", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, s.fail("revoke grant tree", err)
	}
	return tree, nil
}
