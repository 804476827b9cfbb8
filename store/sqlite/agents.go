package sqlite

// This file implements the delegation role ([store.DelegationStore]).

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// CreateDelegatedGrant implements [store.DelegationStore]. The single
// writer serializes it with RevokeGrantTree.
func (s *Store) CreateDelegatedGrant(ctx context.Context, parentID string, g *store.GrantRecord) error {
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
		return store.ErrNotFound
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
		return store.ErrConflict
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO grant_delegations (child_id, parent_id) VALUES (?, ?)`, g.ID, parentID); err != nil {
		return s.fail("create delegated grant", err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail("create delegated grant", err)
	}
	return nil
}

// RevokeGrantTree implements [store.DelegationStore] with one recursive
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

// budgetOwner selects the grant whose budget ?1 spends: itself or its
// nearest ancestor with an allocation.
const budgetOwner = `WITH RECURSIVE up(id, n) AS (
		SELECT ?1, 0
		UNION ALL SELECT d.parent_id, up.n + 1 FROM grant_delegations d JOIN up ON d.child_id = up.id)
	SELECT b.grant_id, b.initial, b.remaining FROM up JOIN grant_budgets b ON b.grant_id = up.id
	WHERE EXISTS (SELECT 1 FROM grants g WHERE g.id = ?1 AND g.revoked_at IS NULL AND g.expires_at > ?2)
	ORDER BY up.n LIMIT 1`

// AllocateBudget implements [store.BudgetStore].
func (s *Store) AllocateBudget(ctx context.Context, grantID string, amount int64) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO grant_budgets (grant_id, initial, remaining)
		SELECT id, ?2, ?2 FROM grants WHERE id = ?1 AND revoked_at IS NULL AND expires_at > ?3
		ON CONFLICT DO NOTHING`, grantID, amount, micros(s.now()))
	if err != nil {
		return s.fail("allocate budget", err)
	}
	if ok, err := changed(res); err != nil {
		return s.fail("allocate budget", err)
	} else if ok {
		return nil
	}
	switch g, err := s.GetGrant(ctx, grantID); {
	case err != nil:
		return err
	case !g.RevokedAt.IsZero():
		return store.ErrNotFound
	}
	return store.ErrConflict
}

// DebitBudget implements [store.BudgetStore]: the single writer makes
// the read and the conditional UPDATE one step.
func (s *Store) DebitBudget(ctx context.Context, grantID string, amount int64) (store.Budget, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return store.Budget{}, s.fail("debit budget", err)
	}
	defer tx.Rollback()
	var b store.Budget
	err = tx.QueryRowContext(ctx, budgetOwner, grantID, micros(s.now())).Scan(&b.GrantID, &b.Initial, &b.Remaining)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Budget{}, store.ErrNotFound
	case err != nil:
		return store.Budget{}, s.fail("debit budget", err)
	case b.Remaining < amount:
		return b, store.ErrInsufficientBudget
	}
	if _, err := tx.ExecContext(ctx, `UPDATE grant_budgets SET remaining = remaining - ? WHERE grant_id = ?`, amount, b.GrantID); err != nil {
		return store.Budget{}, s.fail("debit budget", err)
	}
	if err := tx.Commit(); err != nil {
		return store.Budget{}, s.fail("debit budget", err)
	}
	b.Remaining -= amount
	return b, nil
}

// GetBudget implements [store.BudgetStore].
func (s *Store) GetBudget(ctx context.Context, grantID string) (store.Budget, error) {
	var b store.Budget
	err := s.r.QueryRowContext(ctx, budgetOwner, grantID, micros(s.now())).Scan(&b.GrantID, &b.Initial, &b.Remaining)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Budget{}, store.ErrNotFound
	case err != nil:
		return store.Budget{}, s.fail("get budget", err)
	}
	return b, nil
}

// UseAssertion implements [store.AssertionStore]: one statement inserts
// the key or takes over an expired row.
func (s *Store) UseAssertion(ctx context.Context, key string, until time.Time) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO client_assertions (key, expires_at) VALUES (?1, ?2)
		ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE client_assertions.expires_at <= ?3`,
		key, micros(until), micros(s.now()))
	if err != nil {
		return s.fail("use assertion", err)
	}
	if ok, err := changed(res); err != nil {
		return s.fail("use assertion", err)
	} else if !ok {
		return store.ErrConflict
	}
	return nil
}
