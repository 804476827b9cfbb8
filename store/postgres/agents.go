package postgres

// This file implements the delegation role ([store.DelegationStore]).

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpauth/mcpauth/store"
)

// CreateDelegatedGrant implements [store.DelegationStore]. It holds the
// parent's row FOR SHARE while it inserts the child, so a RevokeGrantTree
// that locks the parent either waits for the child to commit (and then
// sees it) or has revoked the parent before (and the child is refused).
func (s *Store) CreateDelegatedGrant(ctx context.Context, parentID string, g *store.GrantRecord) error {
	var outcome error
	err := s.inTx(ctx, "create delegated grant", func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, s.sq(`SELECT 1 FROM {s}.grants WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2 FOR SHARE`),
			parentID, s.now()).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			outcome = store.ErrNotFound
			return errRollback
		} else if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, s.q.sql[qCreateGrant], g.ID, g.ClientID, g.Subject, scopes(g.Scopes),
			g.Resource, g.CreatedAt, g.ExpiresAt, nullTime(g.RevokedAt), g.UpstreamGrantID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			outcome = store.ErrConflict
			return errRollback
		}
		_, err = tx.Exec(ctx, s.sq(`INSERT INTO {s}.grant_delegations (child_id, parent_id) VALUES ($1, $2)`), g.ID, parentID)
		return err
	})
	if outcome != nil {
		return outcome
	}
	return err
}

// RevokeGrantTree implements [store.DelegationStore]: level by level in
// one transaction, each level in its own statement, so that its snapshot
// includes children committed while the UPDATE of their parent waited for
// CreateDelegatedGrant's lock.
func (s *Store) RevokeGrantTree(ctx context.Context, id string, at time.Time) ([]string, error) {
	var tree []string
	err := s.inTx(ctx, "revoke grant tree", func(tx pgx.Tx) error {
		tree = nil
		level := []string{id}
		for seen := 0; len(level) > 0; {
			if _, err := tx.Exec(ctx, s.sq(`UPDATE {s}.grants SET revoked_at = $2 WHERE id = ANY($1) AND revoked_at IS NULL`), level, at); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, s.sq(`SELECT child_id FROM {s}.grant_delegations WHERE parent_id = ANY($1)`), level)
			if err != nil {
				return err
			}
			next, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			if seen += len(next); seen > 1_000_000 { // a cycle cannot be built through the API
				return errors.New("delegation tree too large")
			}
			tree = append(tree, level...)
			level = next
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tree, nil
}

// sq fills the schema into a statement of this file.
func (s *Store) sq(q string) string {
	return strings.ReplaceAll(q, "{s}", pgx.Identifier{s.schema}.Sanitize())
}

// budgetOwner selects the grant whose budget $1 spends: itself or its
// nearest ancestor with an allocation.
const budgetOwner = `WITH RECURSIVE up(id, n) AS (
		SELECT $1::text, 0
		UNION ALL SELECT d.parent_id, up.n + 1 FROM {s}.grant_delegations d JOIN up ON d.child_id = up.id)
	SELECT b.grant_id, b.initial, b.remaining FROM up JOIN {s}.grant_budgets b ON b.grant_id = up.id
	WHERE EXISTS (SELECT 1 FROM {s}.grants g WHERE g.id = $1 AND g.revoked_at IS NULL AND g.expires_at > $2)
	ORDER BY up.n LIMIT 1`

// AllocateBudget implements [store.BudgetStore].
func (s *Store) AllocateBudget(ctx context.Context, grantID string, amount int64) error {
	tag, err := s.pool.Exec(ctx, s.sq(`INSERT INTO {s}.grant_budgets (grant_id, initial, remaining)
		SELECT id, $2, $2 FROM {s}.grants WHERE id = $1 AND revoked_at IS NULL AND expires_at > $3
		ON CONFLICT DO NOTHING`), grantID, amount, s.now())
	if err != nil {
		return s.fail("allocate budget", err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var one int
	err = s.pool.QueryRow(ctx, s.sq(`SELECT 1 FROM {s}.grant_budgets b JOIN {s}.grants g ON g.id = b.grant_id
		WHERE b.grant_id = $1 AND g.revoked_at IS NULL AND g.expires_at > $2`), grantID, s.now()).Scan(&one)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return s.fail("allocate budget", err)
	}
	return store.ErrConflict
}

// DebitBudget implements [store.BudgetStore]: the conditional UPDATE
// (remaining >= amount, re-checked under the row lock) is the one winner.
func (s *Store) DebitBudget(ctx context.Context, grantID string, amount int64) (store.Budget, error) {
	b, err := s.GetBudget(ctx, grantID)
	if err != nil {
		return store.Budget{}, err
	}
	err = s.pool.QueryRow(ctx, s.sq(`UPDATE {s}.grant_budgets SET remaining = remaining - $2
		WHERE grant_id = $1 AND remaining >= $2 RETURNING initial, remaining`), b.GrantID, amount).Scan(&b.Initial, &b.Remaining)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if b, err = s.GetBudget(ctx, grantID); err != nil {
			return store.Budget{}, err
		}
		return b, store.ErrInsufficientBudget
	case err != nil:
		return store.Budget{}, s.fail("debit budget", err)
	}
	return b, nil
}

// GetBudget implements [store.BudgetStore].
func (s *Store) GetBudget(ctx context.Context, grantID string) (store.Budget, error) {
	var b store.Budget
	err := s.pool.QueryRow(ctx, s.sq(budgetOwner), grantID, s.now()).Scan(&b.GrantID, &b.Initial, &b.Remaining)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Budget{}, store.ErrNotFound
	case err != nil:
		return store.Budget{}, s.fail("get budget", err)
	}
	return b, nil
}

// UseAssertion implements [store.AssertionStore]: one statement inserts
// the key or takes over an expired row.
func (s *Store) UseAssertion(ctx context.Context, key string, until time.Time) error {
	tag, err := s.pool.Exec(ctx, s.sq(`INSERT INTO {s}.client_assertions AS a (key, expires_at) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE a.expires_at <= $3`), key, until, s.now())
	if err != nil {
		return s.fail("use assertion", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrConflict
	}
	return nil
}
