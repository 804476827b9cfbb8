package mcpauth

import (
	"context"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

func (g *timedGrants) CreateDelegatedGrant(ctx context.Context, parentID string, gr *store.GrantRecord) error {
	return deadlineErr(ctx, g.d, "CreateDelegatedGrant", func(ctx context.Context) error { return g.s.CreateDelegatedGrant(ctx, parentID, gr) })
}

func (g *timedGrants) RevokeGrantTree(ctx context.Context, id string, at time.Time) ([]string, error) {
	return deadlineCall(ctx, g.d, "RevokeGrantTree", func(ctx context.Context) ([]string, error) { return g.s.RevokeGrantTree(ctx, id, at) })
}

func (g *timedGrants) AllocateBudget(ctx context.Context, grantID string, amount int64) error {
	return deadlineErr(ctx, g.d, "AllocateBudget", func(ctx context.Context) error { return g.s.AllocateBudget(ctx, grantID, amount) })
}

func (g *timedGrants) DebitBudget(ctx context.Context, grantID string, amount int64) (store.Budget, error) {
	return deadlineCall(ctx, g.d, "DebitBudget", func(ctx context.Context) (store.Budget, error) { return g.s.DebitBudget(ctx, grantID, amount) })
}

func (g *timedGrants) GetBudget(ctx context.Context, grantID string) (store.Budget, error) {
	return deadlineCall(ctx, g.d, "GetBudget", func(ctx context.Context) (store.Budget, error) { return g.s.GetBudget(ctx, grantID) })
}

func (g *timedGrants) UseAssertion(ctx context.Context, key string, until time.Time) error {
	return deadlineErr(ctx, g.d, "UseAssertion", func(ctx context.Context) error { return g.s.UseAssertion(ctx, key, until) })
}
