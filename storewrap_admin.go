package mcpauth

// This file adds the listing roles (store_admin.go) to the store decorators
// of storewrap.go.

import "context"

func (c *timedClients) ListClients(ctx context.Context, after string, limit int) ([]*Client, error) {
	return deadlineCall(ctx, c.d, "ListClients", func(ctx context.Context) ([]*Client, error) { return c.s.ListClients(ctx, after, limit) })
}

func (g *timedGrants) ListGrants(ctx context.Context, f GrantFilter, after string, limit int) ([]*GrantRecord, error) {
	return deadlineCall(ctx, g.d, "ListGrants", func(ctx context.Context) ([]*GrantRecord, error) { return g.s.ListGrants(ctx, f, after, limit) })
}

// peekClient is GetClient without the last-use bookkeeping: an operator
// reading a client is not the client being used, so it neither postpones
// nor triggers the idle expiry.
func (c *timedClients) peekClient(ctx context.Context, id string) (*Client, error) {
	return deadlineCall(ctx, c.d, "GetClient", func(ctx context.Context) (*Client, error) { return c.s.GetClient(ctx, id) })
}
