package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// assertionTests check the AssertionStore role: a client assertion's jti
// is accepted once until it expires, by exactly one of concurrent callers.
var assertionTests = []testCase{
	{"OnceUntilExpiry", func(t *testing.T, e env) {
		now := e.now()
		k := id("jti")
		wantErr(t, "UseAssertion", e.Grants.UseAssertion(e.ctx, k, now.Add(time.Minute)), nil)
		wantErr(t, "UseAssertion(replay)", e.Grants.UseAssertion(e.ctx, k, now.Add(time.Minute)), store.ErrConflict)
		wantErr(t, "UseAssertion(other)", e.Grants.UseAssertion(e.ctx, id("jti"), now.Add(time.Minute)), nil)
		old := id("jti")
		wantErr(t, "UseAssertion(expired)", e.Grants.UseAssertion(e.ctx, old, now.Add(-time.Second)), nil)
		wantErr(t, "UseAssertion(after expiry)", e.Grants.UseAssertion(e.ctx, old, now.Add(time.Minute)), nil)
	}},
	{"ConcurrentOneWinner", func(t *testing.T, e env) {
		k, until := id("jti"), e.now().Add(time.Minute)
		var (
			wg  sync.WaitGroup
			won atomic.Int64
		)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch err := e.Grants.UseAssertion(e.ctx, k, until); {
				case err == nil:
					won.Add(1)
				case !errors.Is(err, store.ErrConflict):
					t.Errorf("UseAssertion: %v", err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Errorf("%d callers used the same assertion, want 1", won.Load())
		}
	}},
}
