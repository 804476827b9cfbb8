package mcpauth

// This file gives the revocation feed role the store deadlines of
// storewrap.go.

import (
	"context"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// AppendRevocation implements [store.RevocationFeedStore] with the store deadline.
func (g *timedGrants) AppendRevocation(ctx context.Context, ev store.RevocationEvent) (int64, error) {
	return deadlineCall(ctx, g.d, "AppendRevocation", func(ctx context.Context) (int64, error) { return g.s.AppendRevocation(ctx, ev) })
}

// RevocationsSince implements [store.RevocationFeedStore] with the store deadline.
func (g *timedGrants) RevocationsSince(ctx context.Context, after int64, limit int) (store.RevocationPage, error) {
	return deadlineCall(ctx, g.d, "RevocationsSince", func(ctx context.Context) (store.RevocationPage, error) {
		return g.s.RevocationsSince(ctx, after, limit)
	})
}

// DeleteExpiredRevocations implements [store.RevocationFeedStore] with the store deadline.
func (g *timedGrants) DeleteExpiredRevocations(ctx context.Context, before time.Time, limit int) (int, error) {
	return deadlineCall(ctx, g.d, "DeleteExpiredRevocations", func(ctx context.Context) (int, error) {
		return g.s.DeleteExpiredRevocations(ctx, before, limit)
	})
}

// WatchRevocations implements [store.RevocationFeedStore]; a watch has no deadline.
func (g *timedGrants) WatchRevocations(ctx context.Context, wake func()) error {
	return g.s.WatchRevocations(ctx, wake)
}
