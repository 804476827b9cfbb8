package mcpauth

// This file adds the listing roles (store/listing.go) to the store decorators
// of storewrap.go.

import (
	"context"

	"github.com/mcpauth/mcpauth/store"
)

func (c *timedClients) ListClients(ctx context.Context, after string, limit int) ([]*store.Client, error) {
	return deadlineCall(ctx, c.d, "ListClients", func(ctx context.Context) ([]*store.Client, error) { return c.s.ListClients(ctx, after, limit) })
}

func (g *timedGrants) ListGrants(ctx context.Context, f store.GrantFilter, after string, limit int) ([]*store.GrantRecord, error) {
	return deadlineCall(ctx, g.d, "ListGrants", func(ctx context.Context) ([]*store.GrantRecord, error) { return g.s.ListGrants(ctx, f, after, limit) })
}

// peekClient is GetClient without the last-use bookkeeping: an operator
// reading a client is not the client being used, so it neither postpones
// nor triggers the idle expiry.
func (c *timedClients) peekClient(ctx context.Context, id string) (*store.Client, error) {
	return deadlineCall(ctx, c.d, "GetClient", func(ctx context.Context) (*store.Client, error) { return c.s.GetClient(ctx, id) })
}
