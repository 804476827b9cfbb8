// Package storetest is the conformance suite for mcpauth stores. A store
// implementation proves itself with
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(tb testing.TB) storetest.Stores {
//			db := freshDatabase(tb) // fresh schema or truncated tables
//			return storetest.Stores{Clients: ..., Grants: ..., Keys: ...}
//		})
//	}
//
// and benchmarks itself with [RunBenchmarks].
//
// What the suite expects beyond the interface documentation in package
// mcpauth:
//
//   - Times survive to the millisecond: a stored time comes back within 1 ms
//     of what was saved (truncation, rounding and any time zone pass), and a
//     zero time comes back zero.
//   - A nil and an empty slice are the same value; slice order is kept.
//   - []byte fields (digests, Upstream, PrivateJWK) are arbitrary binary.
//   - Saving a code, refresh token or pending authorization under a digest
//     that exists is ErrConflict and leaves the existing record alone.
//   - Records handed to or returned by a store share no memory with it.
//   - Records are saved in a valid order: a grant exists before the codes
//     and refresh tokens that name it, so foreign keys are fine.
//
// Subtests run one after another, never in parallel, so a factory may reuse
// one database by truncating its tables.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// Stores is what a factory hands the suite: stores that start empty.
type Stores struct {
	// Clients, Grants and Keys are the stores under test. A nil store skips
	// its subtests, so a package that implements only some can still run.
	Clients store.ClientStore
	Grants  store.GrantStore
	Keys    store.KeyStore
	// Now is the clock the stores judge expiry by; nil means time.Now.
	Now func() time.Time
	// Advance, when set, moves Now forward (see [Clock]); the tests that
	// need time to pass (the refresh retry window) skip without it.
	Advance func(time.Duration)
}

// Clock is a store clock for the suite: real time plus an offset that
// Advance moves forward. Hand Now to the store and both to [Stores].
type Clock struct {
	mu  sync.Mutex
	off time.Duration
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// testCase is one subtest: a name and a body that gets fresh stores.
type testCase struct {
	name string
	fn   func(t *testing.T, e env)
}

// env is the per-subtest state: fresh stores and the test's context.
type env struct {
	Stores
	ctx context.Context
}

// now returns the stores' clock truncated to the millisecond, so that any
// store that keeps milliseconds holds fixture times exactly.
func (e env) now() time.Time {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	return now().Truncate(time.Millisecond)
}

// Run runs the conformance suite. newStores is called once per subtest and
// must return empty stores; it reports setup failures through its testing.TB.
func Run(t *testing.T, newStores func(tb testing.TB) Stores) {
	groups := []struct {
		name  string
		need  func(Stores) bool
		cases []testCase
	}{
		{"Clients", func(s Stores) bool { return s.Clients != nil }, clientTests},
		{"Codes", func(s Stores) bool { return s.Grants != nil }, codeTests},
		{"Grants", func(s Stores) bool { return s.Grants != nil }, grantTests},
		{"Refresh", func(s Stores) bool { return s.Grants != nil }, refreshTests},
		{"DenyList", func(s Stores) bool { return s.Grants != nil }, denyTests},
		{"Pending", func(s Stores) bool { return s.Grants != nil }, pendingTests},
		{"DeleteExpired", func(s Stores) bool { return s.Grants != nil }, deleteExpiredTests},
		{"Redeem", func(s Stores) bool { return s.Grants != nil }, redeemTests},
		{"RefreshRetry", func(s Stores) bool { return s.Grants != nil }, refreshRetryTests},
		{"Tombstones", func(s Stores) bool { return s.Grants != nil }, tombstoneTests},
		{"PendingCap", func(s Stores) bool { return s.Grants != nil }, pendingCapTests},
		{"Delegation", func(s Stores) bool { return s.Grants != nil }, delegationTests},
		{"Budget", func(s Stores) bool { return s.Grants != nil }, budgetTests},
		{"Assertions", func(s Stores) bool { return s.Grants != nil }, assertionTests},
		{"ClientSweep", func(s Stores) bool { _, ok := s.Clients.(store.ClientSweeper); return ok }, clientSweepTests},
		{"Keys", func(s Stores) bool { return s.Keys != nil }, keyTests},
		{"Listing", func(s Stores) bool { return s.Clients != nil && s.Grants != nil }, listingTests},
		{"RevocationFeed", func(s Stores) bool { return s.Grants != nil }, feedTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.cases {
				t.Run(tc.name, func(t *testing.T) {
					s := newStores(t)
					if !g.need(s) {
						t.Skipf("factory returned no store for %s", g.name)
					}
					tc.fn(t, env{Stores: s, ctx: t.Context()})
				})
			}
		})
	}
}

// digest returns a random base64url string shaped like a SHA-256 digest.
func digest() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// id returns a random identifier with a readable prefix.
func id(prefix string) string { return prefix + "-" + digest()[:16] }

// blob returns binary data derived from seed that is not valid UTF-8 and
// holds NUL bytes, so a store that keeps []byte as text fails.
func blob(seed string) []byte {
	sum := sha256.Sum256([]byte(seed))
	return append([]byte{0x00, 0xff, 0xfe, 0x80, 'x', 0x00}, sum[:]...)
}

// sameTime is the suite's time equality: within a millisecond.
func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -time.Millisecond && d < time.Millisecond
}

// diff lists the fields in which got differs from want; both are structs or
// pointers to structs of one type.
func diff(want, got any) []string {
	wv, gv := reflect.Indirect(reflect.ValueOf(want)), reflect.Indirect(reflect.ValueOf(got))
	var out []string
	for i := range wv.NumField() {
		w, g := wv.Field(i).Interface(), gv.Field(i).Interface()
		var same bool
		switch w := w.(type) {
		case time.Time:
			same = sameTime(w, g.(time.Time))
		case []byte:
			same = bytes.Equal(w, g.([]byte))
		case []string:
			same = slices.Equal(w, g.([]string))
		default:
			same = reflect.DeepEqual(w, g)
		}
		if !same {
			out = append(out, fmt.Sprintf("%s = %s, want %s", wv.Type().Field(i).Name, show(g), show(w)))
		}
	}
	return out
}

// show formats a field value for a failure message.
func show(v any) string {
	switch v := v.(type) {
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case []byte:
		return fmt.Sprintf("%x", v)
	default:
		return fmt.Sprintf("%#v", v)
	}
}

// wantRecord fails unless got is a non-nil record equal to want.
func wantRecord[T any](t *testing.T, op string, want, got *T) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s returned a nil record", op)
	}
	if d := diff(want, got); len(d) > 0 {
		t.Errorf("%s returned a different record:\n\t%s", op, strings.Join(d, "\n\t"))
	}
}

// wantErr fails unless errors.Is(err, target); target nil means no error.
func wantErr(t *testing.T, op string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", op, err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("%s: error %v, want %v", op, err, target)
	}
}

// allSet fails when a fixture leaves a field zero (except those named), so
// a field added to a record cannot escape the round-trip tests.
func allSet(t *testing.T, v any, except ...string) {
	t.Helper()
	rv := reflect.Indirect(reflect.ValueOf(v))
	for i := range rv.NumField() {
		name := rv.Type().Field(i).Name
		if rv.Field(i).IsZero() && !slices.Contains(except, name) {
			t.Fatalf("storetest fixture %T leaves %s unset: extend the suite", v, name)
		}
	}
}

// race calls f from n goroutines released at once and collects the results.
func race[T any](n int, f func(i int) (T, error)) ([]T, []error) {
	vals, errs := make([]T, n), make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			vals[i], errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return vals, errs
}

// Concurrency shape: racers per single-use record, and records per test.
const (
	racers = 64
	rounds = 20
)

// tally checks a race on one single-use record: exactly one nil error, and
// every other error is loser. It returns the winner's index.
func tally(t *testing.T, op string, errs []error, loser error) int {
	t.Helper()
	winner := -1
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
			winner = i
		case !errors.Is(err, loser):
			t.Errorf("%s racer %d: error %v, want nil or %v", op, i, err, loser)
		}
	}
	if wins != 1 {
		t.Fatalf("%s: %d of %d racers won, want exactly 1", op, wins, len(errs))
	}
	return winner
}
