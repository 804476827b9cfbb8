package store

// This file implements the delegation role (DelegationStore) of the
// in-memory grant store.

import (
	"context"
	"time"
)

// CreateDelegatedGrant implements DelegationStore.
func (s *memGrantStore) CreateDelegatedGrant(_ context.Context, parentID string, g *GrantRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.grantLive(parentID) {
		return ErrNotFound
	}
	if _, ok := s.grants[g.ID]; ok {
		return ErrConflict
	}
	s.grants[g.ID] = cloneGrant(g)
	if s.children == nil {
		s.children = make(map[string][]string)
	}
	s.children[parentID] = append(s.children[parentID], g.ID)
	if s.parent == nil {
		s.parent = make(map[string]string)
	}
	s.parent[g.ID] = parentID
	return nil
}

// RevokeGrantTree implements DelegationStore: one lock covers the subtree.
func (s *memGrantStore) RevokeGrantTree(_ context.Context, id string, at time.Time) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tree := []string{id}
	for i := 0; i < len(tree); i++ {
		if g, ok := s.grants[tree[i]]; ok && g.RevokedAt.IsZero() {
			g.RevokedAt = at
		}
		tree = append(tree, s.children[tree[i]]...)
	}
	return tree, nil
}

// AllocateBudget implements BudgetStore.
func (s *memGrantStore) AllocateBudget(_ context.Context, grantID string, amount int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.grantLive(grantID) {
		return ErrNotFound
	}
	if _, ok := s.budgets[grantID]; ok {
		return ErrConflict
	}
	if s.budgets == nil {
		s.budgets = make(map[string]*Budget)
	}
	s.budgets[grantID] = &Budget{GrantID: grantID, Initial: amount, Remaining: amount}
	return nil
}

// budgetOf is the budget grantID spends: its own or its nearest ancestor's.
func (s *memGrantStore) budgetOf(grantID string) *Budget {
	if !s.grantLive(grantID) {
		return nil
	}
	for id := grantID; id != ""; id = s.parent[id] {
		if b, ok := s.budgets[id]; ok {
			return b
		}
	}
	return nil
}

// DebitBudget implements BudgetStore.
func (s *memGrantStore) DebitBudget(_ context.Context, grantID string, amount int64) (Budget, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.budgetOf(grantID)
	switch {
	case b == nil:
		return Budget{}, ErrNotFound
	case b.Remaining < amount:
		return *b, ErrInsufficientBudget
	}
	b.Remaining -= amount
	return *b, nil
}

// GetBudget implements BudgetStore.
func (s *memGrantStore) GetBudget(_ context.Context, grantID string) (Budget, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.budgetOf(grantID); b != nil {
		return *b, nil
	}
	return Budget{}, ErrNotFound
}

// UseAssertion implements AssertionStore.
func (s *memGrantStore) UseAssertion(_ context.Context, key string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.assertions[key]; ok && s.now().Before(exp) {
		return ErrConflict
	}
	if s.assertions == nil {
		s.assertions = make(map[string]time.Time)
	}
	s.assertions[key] = until
	return nil
}
