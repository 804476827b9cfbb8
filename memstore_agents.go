package mcpauth

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
