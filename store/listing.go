package store

// This file defines the listing roles of the stores, which the admin API
// (the root package's admin.go) and client deletion (RFC 7592 §2.3) page through.

import "context"

// ClientLister is the listing role of a [ClientStore].
type ClientLister interface {
	// ListClients returns at most limit clients whose ID sorts after
	// `after` (byte order; "" starts at the first), in ascending ID order.
	// A page shorter than limit is the last one.
	ListClients(ctx context.Context, after string, limit int) ([]*Client, error)
}

// GrantFilter selects grants for [GrantLister.ListGrants]; an empty field
// matches every grant.
type GrantFilter struct {
	Subject  string
	ClientID string
}

// GrantLister is the listing role of a [GrantStore].
type GrantLister interface {
	// ListGrants returns at most limit unexpired grants (revoked ones too,
	// with RevokedAt set) matching f whose ID sorts after `after` (byte
	// order; "" starts at the first), in ascending ID order. A page
	// shorter than limit is the last one.
	ListGrants(ctx context.Context, f GrantFilter, after string, limit int) ([]*GrantRecord, error)
}
