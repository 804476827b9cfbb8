package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// delegationTests check the DelegationStore role: child grants and the
// atomic revocation of a subtree.
var delegationTests = []testCase{
	{"ChildOfLiveParent", func(t *testing.T, e env) {
		now := e.now()
		root := e.grant(t, now)
		child := id("child")
		wantErr(t, "CreateDelegatedGrant", e.Grants.CreateDelegatedGrant(e.ctx, root, grantRecord(child, now)), nil)
		got, err := e.Grants.GetGrant(e.ctx, child)
		wantErr(t, "GetGrant(child)", err, nil)
		if got.ID != child || !got.RevokedAt.IsZero() {
			t.Fatalf("GetGrant(child) = %+v", got)
		}
		wantErr(t, "CreateDelegatedGrant(same id)", e.Grants.CreateDelegatedGrant(e.ctx, root, grantRecord(child, now)), store.ErrConflict)
	}},
	{"NoChildOfDeadParent", func(t *testing.T, e env) {
		now := e.now()
		wantErr(t, "CreateDelegatedGrant(unknown parent)",
			e.Grants.CreateDelegatedGrant(e.ctx, id("grant"), grantRecord(id("child"), now)), store.ErrNotFound)
		revoked := e.grant(t, now)
		wantErr(t, "RevokeGrant", e.Grants.RevokeGrant(e.ctx, revoked, now), nil)
		c := id("child")
		wantErr(t, "CreateDelegatedGrant(revoked parent)", e.Grants.CreateDelegatedGrant(e.ctx, revoked, grantRecord(c, now)), store.ErrNotFound)
		if _, err := e.Grants.GetGrant(e.ctx, c); err == nil {
			t.Fatal("a refused child grant was stored")
		}
		expired := grantRecord(id("grant"), now)
		expired.ExpiresAt = now.Add(-time.Second)
		wantErr(t, "CreateGrant(expired)", e.Grants.CreateGrant(e.ctx, expired), nil)
		wantErr(t, "CreateDelegatedGrant(expired parent)", e.Grants.CreateDelegatedGrant(e.ctx, expired.ID, grantRecord(id("child"), now)), store.ErrNotFound)
	}},
	{"RevokeTreeCascades", func(t *testing.T, e env) {
		now := e.now()
		// root → a → a1, a2; root → b; other is a separate tree.
		root, other := e.grant(t, now), e.grant(t, now)
		a, a1, a2, b := id("a"), id("a1"), id("a2"), id("b")
		for _, l := range [][2]string{{root, a}, {a, a1}, {a, a2}, {root, b}} {
			wantErr(t, "CreateDelegatedGrant", e.Grants.CreateDelegatedGrant(e.ctx, l[0], grantRecord(l[1], now)), nil)
		}
		// Revoking a middle node ends its subtree only.
		tree, err := e.Grants.RevokeGrantTree(e.ctx, a, now)
		wantErr(t, "RevokeGrantTree(a)", err, nil)
		slices.Sort(tree)
		if want := []string{a, a1, a2}; !slices.Equal(tree, sorted(want)) {
			t.Errorf("RevokeGrantTree(a) = %v, want %v", tree, sorted(want))
		}
		wantRevoked(t, e, map[string]bool{root: false, a: true, a1: true, a2: true, b: false, other: false})
		later := now.Add(time.Second)
		_, err = e.Grants.RevokeGrantTree(e.ctx, root, later)
		wantErr(t, "RevokeGrantTree(root)", err, nil)
		wantRevoked(t, e, map[string]bool{root: true, a: true, a1: true, a2: true, b: true, other: false})
		// The earlier revocation time is kept.
		if g, _ := e.Grants.GetGrant(e.ctx, a1); !g.RevokedAt.Equal(now) {
			t.Errorf("a1 RevokedAt = %v, want the first revocation %v", g.RevokedAt, now)
		}
		_, err = e.Grants.RevokeGrantTree(e.ctx, id("grant"), now)
		wantErr(t, "RevokeGrantTree(unknown)", err, nil)
	}},
	{"ConcurrentRevokeAndDelegate", func(t *testing.T, e env) {
		// However revocation and delegation interleave, once the revocation
		// of the root has returned, every grant in the tree is revoked.
		now := e.now()
		for range 8 {
			root := e.grant(t, now)
			mid := id("mid")
			wantErr(t, "CreateDelegatedGrant", e.Grants.CreateDelegatedGrant(e.ctx, root, grantRecord(mid, now)), nil)
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				created []string
			)
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					parent := root
					if i%2 == 1 {
						parent = mid
					}
					c := id("c")
					if err := e.Grants.CreateDelegatedGrant(e.ctx, parent, grantRecord(c, now)); err == nil {
						mu.Lock()
						created = append(created, c)
						mu.Unlock()
					} else if !errors.Is(err, store.ErrNotFound) {
						t.Errorf("CreateDelegatedGrant: %v", err)
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.Grants.RevokeGrantTree(e.ctx, root, now); err != nil {
					t.Errorf("RevokeGrantTree: %v", err)
				}
			}()
			wg.Wait()
			want := map[string]bool{root: true, mid: true}
			for _, c := range created {
				want[c] = true
			}
			wantRevoked(t, e, want)
		}
	}},
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func wantRevoked(t *testing.T, e env, want map[string]bool) {
	t.Helper()
	for gid, revoked := range want {
		g, err := e.Grants.GetGrant(e.ctx, gid)
		if err != nil {
			t.Fatalf("GetGrant(%s): %v", gid, err)
		}
		if got := !g.RevokedAt.IsZero(); got != revoked {
			t.Errorf("grant %s revoked = %v, want %v", gid, got, revoked)
		}
		live, err := e.Grants.IsRevoked(e.ctx, id("jti"), gid)
		if err != nil {
			t.Fatalf("IsRevoked(%s): %v", gid, err)
		}
		if live != revoked {
			t.Errorf("IsRevoked(%s) = %v, want %v", gid, live, revoked)
		}
	}
}
