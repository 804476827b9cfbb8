package mcpauth

// This file defines the store role of agent delegation (RFC 8693 token
// exchange): grants that are children of other grants, and the revocation
// of a grant together with its whole subtree.

import (
	"context"
	"time"
)

// DelegationStore is the delegation role of a [GrantStore]: a delegated
// grant is the child of the grant it was exchanged from (RFC 8693 §2,
// Grantex SPEC §9), and revoking a grant revokes its descendants.
type DelegationStore interface {
	// CreateDelegatedGrant atomically creates g as a child of parentID,
	// provided the parent exists, has not expired and is not revoked;
	// otherwise it returns ErrNotFound and creates nothing. A grant whose
	// ID exists gives ErrConflict. It is atomic with RevokeGrantTree: once
	// a revocation of an ancestor has returned, no child is created under
	// it, and a child created before is revoked by it.
	CreateDelegatedGrant(ctx context.Context, parentID string, g *GrantRecord) error
	// RevokeGrantTree marks the grant and every grant delegated from it,
	// transitively, revoked at `at` (keeping earlier revocation times), in
	// one transaction, and returns the IDs of the subtree (id first), so
	// the caller can tell token caches. Unknown grants are not an error.
	RevokeGrantTree(ctx context.Context, id string, at time.Time) ([]string, error)
}
