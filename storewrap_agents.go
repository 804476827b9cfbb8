package mcpauth

import (
	"context"
	"time"
)

func (g *timedGrants) CreateDelegatedGrant(ctx context.Context, parentID string, gr *GrantRecord) error {
	return deadlineErr(ctx, g.d, "CreateDelegatedGrant", func(ctx context.Context) error { return g.s.CreateDelegatedGrant(ctx, parentID, gr) })
}

func (g *timedGrants) RevokeGrantTree(ctx context.Context, id string, at time.Time) ([]string, error) {
	return deadlineCall(ctx, g.d, "RevokeGrantTree", func(ctx context.Context) ([]string, error) { return g.s.RevokeGrantTree(ctx, id, at) })
}
