package mcpauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// TestSweepDeletesIdleClients: the periodic sweep deletes registered
// clients idle past ClientIdleExpiry through ClientSweeper, without waiting
// for a lookup (issue 9.3).
func TestSweepDeletesIdleClients(t *testing.T) {
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	clients := store.NewMemoryClientStore()
	s, err := NewServer(Config{
		Issuer: "http://127.0.0.1:8080", Scopes: []string{"a"}, Authenticator: testAutoApprove("alice"),
		Clients: clients, Now: clock.Now, ClientIdleExpiry: 90 * 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := clock.Now()
	for _, c := range []*store.Client{
		{ID: "idle", IssuedAt: now.Add(-200 * 24 * time.Hour), LastUsedAt: now.Add(-91 * 24 * time.Hour)},
		{ID: "never-used", IssuedAt: now.Add(-91 * 24 * time.Hour)},
		{ID: "used", IssuedAt: now.Add(-200 * 24 * time.Hour), LastUsedAt: now.Add(-89 * 24 * time.Hour)},
		{ID: "new", IssuedAt: now},
	} {
		if err := clients.SetClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	s.sweepOnce()
	for id, want := range map[string]error{"idle": store.ErrNotFound, "never-used": store.ErrNotFound, "used": nil, "new": nil} {
		if _, err := clients.GetClient(t.Context(), id); !errors.Is(err, want) {
			t.Errorf("client %s after the sweep: %v, want %v", id, err, want)
		}
	}
}

// TestDeadlineCall: the store deadline, not the caller's, makes an outage.
func TestDeadlineCall(t *testing.T) {
	block := func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() }
	if _, err := deadlineCall(t.Context(), storeBudget{timeout: time.Millisecond}, "op", block); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a store call past its deadline: %v, want ErrUnavailable", err)
	}
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := deadlineCall(gone, storeBudget{timeout: time.Hour}, "op", block); errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("a store call whose caller went away: %v, want context.Canceled only", err)
	}
	if _, err := deadlineCall(t.Context(), storeBudget{timeout: time.Hour}, "op", func(context.Context) (int, error) { return 0, store.ErrNotFound }); !errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Errorf("a store answer: %v, want ErrNotFound as is", err)
	}
	hasDeadline := func(ctx context.Context) (bool, error) { _, ok := ctx.Deadline(); return ok, nil }
	for _, tc := range []struct {
		name string
		b    storeBudget
		want bool
	}{
		{"a configured store", storeBudget{timeout: time.Hour}.inMemory(false), true},
		{"a store the server made in memory", storeBudget{timeout: time.Hour}.inMemory(true), false},
	} {
		if got, _ := deadlineCall(t.Context(), tc.b, "op", hasDeadline); got != tc.want {
			t.Errorf("%s: call has a deadline = %v, want %v", tc.name, got, tc.want)
		}
	}
}
