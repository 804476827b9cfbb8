package store

// This file implements the listing roles (listing.go) of the memory
// stores. Listing sorts the whole map: the memory stores hold a single
// process's state, and the admin API pages through it rarely.

import (
	"context"
	"slices"
	"strings"
)

// ListClients implements [ClientLister].
func (s *memClientStore) ListClients(_ context.Context, after string, limit int) ([]*Client, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var page []*Client
	for id, c := range s.clients {
		if id > after {
			page = append(page, c)
		}
	}
	slices.SortFunc(page, func(a, b *Client) int { return strings.Compare(a.ID, b.ID) })
	page = page[:min(len(page), max(limit, 0))]
	for i, c := range page {
		page[i] = c.Clone()
	}
	return page, nil
}

// ListGrants implements [GrantLister].
func (s *memGrantStore) ListGrants(_ context.Context, f GrantFilter, after string, limit int) ([]*GrantRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var page []*GrantRecord
	for id, g := range s.grants {
		if id > after && now.Before(g.ExpiresAt) &&
			(f.Subject == "" || g.Subject == f.Subject) && (f.ClientID == "" || g.ClientID == f.ClientID) {
			page = append(page, g)
		}
	}
	slices.SortFunc(page, func(a, b *GrantRecord) int { return strings.Compare(a.ID, b.ID) })
	page = page[:min(len(page), max(limit, 0))]
	for i, g := range page {
		page[i] = cloneGrant(g)
	}
	return page, nil
}
