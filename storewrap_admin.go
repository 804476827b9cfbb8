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
