package mcpauth

// This file wraps the stores with deadlines and bookkeeping.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// The server reaches its stores only through these decorators, which add
// what every store needs the same way: a deadline on every call (a
// partitioned database gives 503 with Retry-After, never an unbounded wait),
// the cap on pending authorization requests, and the last-use bookkeeping of
// dynamically registered clients.

// clientTouchEvery is how stale a client's LastUsedAt may get before a
// lookup writes it again: at most one write per client a day.
const clientTouchEvery = 24 * time.Hour

// storeBudget is what every store call gets: its deadline (0: none), and
// the observer of its span and metrics (tracing.go; nil: none).
type storeBudget struct {
	timeout time.Duration
	obs     *storeObserver
}

// inMemory is the budget of a store the server made in memory when mem
// is true: no deadline, since such a store never waits on I/O.
func (d storeBudget) inMemory(mem bool) storeBudget {
	if mem {
		d.timeout = 0
	}
	return d
}

// deadlineCall runs f under a context that ends after d.timeout. When that
// deadline (not the caller's) cut the call short, the error wraps
// ErrUnavailable, so endpoints answer 503 temporarily_unavailable.
func deadlineCall[T any](parent context.Context, d storeBudget, op string, f func(context.Context) (T, error)) (T, error) {
	var v T
	err := d.obs.observe(parent, op, func(parent context.Context) error {
		if d.timeout <= 0 {
			var err error
			v, err = f(parent)
			return err
		}
		ctx, cancel := context.WithTimeout(parent, d.timeout)
		defer cancel()
		var err error
		v, err = f(ctx)
		if err != nil && !errors.Is(err, ErrUnavailable) && errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil {
			err = fmt.Errorf("mcpauth: store %s: no answer within %s: %w: %w", op, d.timeout, ErrUnavailable, err)
		}
		return err
	})
	return v, err
}

func deadlineErr(parent context.Context, d storeBudget, op string, f func(context.Context) error) error {
	_, err := deadlineCall(parent, d, op, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

// timedGrants is the server's GrantStore: the configured one with deadlines
// and the pending-request cap.
type timedGrants struct {
	s          store.GrantStore
	d          storeBudget
	maxPending int
	log        *slog.Logger
}

func (g *timedGrants) SaveCode(ctx context.Context, digest string, rec *store.CodeRecord) error {
	return deadlineErr(ctx, g.d, "SaveCode", func(ctx context.Context) error { return g.s.SaveCode(ctx, digest, rec) })
}

func (g *timedGrants) ConsumeCode(ctx context.Context, digest string) (*store.CodeRecord, error) {
	return deadlineCall(ctx, g.d, "ConsumeCode", func(ctx context.Context) (*store.CodeRecord, error) { return g.s.ConsumeCode(ctx, digest) })
}

func (g *timedGrants) GetCode(ctx context.Context, digest string) (*store.CodeRecord, error) {
	return deadlineCall(ctx, g.d, "GetCode", func(ctx context.Context) (*store.CodeRecord, error) { return g.s.GetCode(ctx, digest) })
}

func (g *timedGrants) RedeemCode(ctx context.Context, digest string, r *store.Redemption) (*store.CodeRecord, error) {
	return deadlineCall(ctx, g.d, "RedeemCode", func(ctx context.Context) (*store.CodeRecord, error) { return g.s.RedeemCode(ctx, digest, r) })
}

func (g *timedGrants) CreateGrant(ctx context.Context, gr *store.GrantRecord) error {
	return deadlineErr(ctx, g.d, "CreateGrant", func(ctx context.Context) error { return g.s.CreateGrant(ctx, gr) })
}

func (g *timedGrants) GetGrant(ctx context.Context, id string) (*store.GrantRecord, error) {
	return deadlineCall(ctx, g.d, "GetGrant", func(ctx context.Context) (*store.GrantRecord, error) { return g.s.GetGrant(ctx, id) })
}

func (g *timedGrants) RevokeGrant(ctx context.Context, id string, at time.Time) error {
	return deadlineErr(ctx, g.d, "RevokeGrant", func(ctx context.Context) error { return g.s.RevokeGrant(ctx, id, at) })
}

func (g *timedGrants) SaveRefresh(ctx context.Context, digest string, rec *store.RefreshRecord) error {
	return deadlineErr(ctx, g.d, "SaveRefresh", func(ctx context.Context) error { return g.s.SaveRefresh(ctx, digest, rec) })
}

func (g *timedGrants) RotateRefresh(ctx context.Context, oldDigest, newDigest string, next *store.RefreshRecord, retryWindow time.Duration) (*store.RefreshRecord, error) {
	return deadlineCall(ctx, g.d, "RotateRefresh", func(ctx context.Context) (*store.RefreshRecord, error) {
		return g.s.RotateRefresh(ctx, oldDigest, newDigest, next, retryWindow)
	})
}

func (g *timedGrants) LookupRefresh(ctx context.Context, digest string) (*store.RefreshRecord, error) {
	return deadlineCall(ctx, g.d, "LookupRefresh", func(ctx context.Context) (*store.RefreshRecord, error) { return g.s.LookupRefresh(ctx, digest) })
}

func (g *timedGrants) GetRefresh(ctx context.Context, digest string) (*store.RefreshRecord, error) {
	return deadlineCall(ctx, g.d, "GetRefresh", func(ctx context.Context) (*store.RefreshRecord, error) { return g.s.GetRefresh(ctx, digest) })
}

func (g *timedGrants) DenyToken(ctx context.Context, jti string, until time.Time) error {
	return deadlineErr(ctx, g.d, "DenyToken", func(ctx context.Context) error { return g.s.DenyToken(ctx, jti, until) })
}

func (g *timedGrants) IsRevoked(ctx context.Context, jti, grantID string) (bool, error) {
	return deadlineCall(ctx, g.d, "IsRevoked", func(ctx context.Context) (bool, error) { return g.s.IsRevoked(ctx, jti, grantID) })
}

// SavePending saves p, then trims the oldest requests beyond the cap, so a
// flood of abandoned /authorize starts cannot grow the store without bound.
func (g *timedGrants) SavePending(ctx context.Context, digest string, p *store.PendingAuthorization) error {
	if err := deadlineErr(ctx, g.d, "SavePending", func(ctx context.Context) error { return g.s.SavePending(ctx, digest, p) }); err != nil {
		return err
	}
	if _, err := g.TrimPending(ctx, g.maxPending); err != nil {
		// The request itself is saved; the next save trims again.
		g.log.Warn("mcpauth: trimming pending authorization requests", "err", err)
	}
	return nil
}

func (g *timedGrants) GetPending(ctx context.Context, digest string) (*store.PendingAuthorization, error) {
	return deadlineCall(ctx, g.d, "GetPending", func(ctx context.Context) (*store.PendingAuthorization, error) { return g.s.GetPending(ctx, digest) })
}

func (g *timedGrants) ConsumePending(ctx context.Context, digest string) (*store.PendingAuthorization, error) {
	return deadlineCall(ctx, g.d, "ConsumePending", func(ctx context.Context) (*store.PendingAuthorization, error) { return g.s.ConsumePending(ctx, digest) })
}

func (g *timedGrants) TrimPending(ctx context.Context, keep int) (int, error) {
	return deadlineCall(ctx, g.d, "TrimPending", func(ctx context.Context) (int, error) { return g.s.TrimPending(ctx, keep) })
}

func (g *timedGrants) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	return deadlineCall(ctx, g.d, "DeleteExpired", func(ctx context.Context) (int, error) { return g.s.DeleteExpired(ctx, now, limit) })
}

// timedClients is the server's ClientStore: the configured one with
// deadlines and idle expiry of registered clients.
type timedClients struct {
	s    store.ClientStore
	d    storeBudget
	idle time.Duration // <= 0: clients never expire
	now  func() time.Time
	log  *slog.Logger
}

// GetClient returns the client and records its use (at most once a day); a
// client unused for longer than the idle expiry is deleted and unknown, even
// before the sweeper gets to it.
func (c *timedClients) GetClient(ctx context.Context, id string) (*store.Client, error) {
	cl, err := deadlineCall(ctx, c.d, "GetClient", func(ctx context.Context) (*store.Client, error) { return c.s.GetClient(ctx, id) })
	if err != nil || c.idle <= 0 {
		return cl, err
	}
	now := c.now()
	last := cl.LastUsed()
	if !last.IsZero() && last.Before(now.Add(-c.idle)) {
		if _, err := c.DeleteClient(ctx, id); err != nil {
			c.log.Warn("mcpauth: deleting an expired client", "client_id", id, "err", err)
		}
		return nil, store.ErrNotFound
	}
	if now.Sub(last) >= clientTouchEvery {
		touched := cl.Clone()
		touched.LastUsedAt = now
		if err := c.SetClient(ctx, touched); err != nil {
			c.log.Warn("mcpauth: recording a client's last use", "client_id", id, "err", err)
		}
		cl.LastUsedAt = now
	}
	return cl, nil
}

func (c *timedClients) SetClient(ctx context.Context, cl *store.Client) error {
	return deadlineErr(ctx, c.d, "SetClient", func(ctx context.Context) error { return c.s.SetClient(ctx, cl) })
}

func (c *timedClients) DeleteClient(ctx context.Context, id string) (bool, error) {
	return deadlineCall(ctx, c.d, "DeleteClient", func(ctx context.Context) (bool, error) { return c.s.DeleteClient(ctx, id) })
}

// sweepClients deletes registered clients idle past the expiry, in bounded
// batches, when the store can list them (ClientSweeper).
func (c *timedClients) sweepClients(ctx context.Context, limit int) (int, error) {
	sw, ok := c.s.(store.ClientSweeper)
	if !ok || c.idle <= 0 {
		return 0, nil
	}
	before := c.now().Add(-c.idle)
	return deadlineCall(ctx, c.d, "DeleteUnusedClients", func(ctx context.Context) (int, error) {
		return sw.DeleteUnusedClients(ctx, before, limit)
	})
}

// timedKeys is the server's KeyStore with deadlines.
type timedKeys struct {
	s store.KeyStore
	d storeBudget
}

func (k *timedKeys) ListKeys(ctx context.Context) ([]store.SigningKey, error) {
	return deadlineCall(ctx, k.d, "ListKeys", func(ctx context.Context) ([]store.SigningKey, error) { return k.s.ListKeys(ctx) })
}

func (k *timedKeys) AddKey(ctx context.Context, key store.SigningKey) error {
	return deadlineErr(ctx, k.d, "AddKey", func(ctx context.Context) error { return k.s.AddKey(ctx, key) })
}

func (k *timedKeys) RetireKey(ctx context.Context, id string, expiresAt time.Time) error {
	return deadlineErr(ctx, k.d, "RetireKey", func(ctx context.Context) error { return k.s.RetireKey(ctx, id, expiresAt) })
}

func (k *timedKeys) DeleteKey(ctx context.Context, id string) error {
	return deadlineErr(ctx, k.d, "DeleteKey", func(ctx context.Context) error { return k.s.DeleteKey(ctx, id) })
}
