package storetest

import (
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// redemption is what a token request stores with a code in managed mode: a
// new grant (plus an existing one, kept as it is) and a refresh token.
func redemption(newGrant, existing string, now time.Time, refreshDigest string, gen int) *store.Redemption {
	changed := grantRecord(existing, now)
	changed.Scopes = []string{"must-not-overwrite"}
	return &store.Redemption{
		Grants:        []*store.GrantRecord{grantRecord(newGrant, now), changed},
		RefreshDigest: refreshDigest,
		Refresh:       refreshRecord(newGrant, now, gen),
	}
}

var redeemTests = []testCase{
	{"GetCodeDoesNotConsume", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		d := digest()
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, d, codeRecord(gid, now)), nil)
		for range 2 {
			got, err := e.Grants.GetCode(e.ctx, d)
			wantErr(t, "GetCode", err, nil)
			wantRecord(t, "GetCode", codeRecord(gid, now), got)
		}
		_, err := e.Grants.ConsumeCode(e.ctx, d)
		wantErr(t, "ConsumeCode", err, nil)
		got, err := e.Grants.GetCode(e.ctx, d)
		wantErr(t, "GetCode(consumed)", err, store.ErrCodeReplayed)
		wantRecord(t, "GetCode(consumed)", codeRecord(gid, now), got)
		_, err = e.Grants.GetCode(e.ctx, digest())
		wantErr(t, "GetCode(unknown)", err, store.ErrNotFound)
		exp := codeRecord(gid, now)
		exp.ExpiresAt = now.Add(-time.Second)
		de := digest()
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, de, exp), nil)
		_, err = e.Grants.GetCode(e.ctx, de)
		wantErr(t, "GetCode(expired)", err, store.ErrNotFound)
	}},
	{"RedeemStoresEverything", func(t *testing.T, e env) {
		now := e.now()
		existing := e.grant(t, now)
		gid, d, rd := id("grant"), digest(), digest()
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, d, codeRecord(gid, now)), nil)
		got, err := e.Grants.RedeemCode(e.ctx, d, redemption(gid, existing, now, rd, 0))
		wantErr(t, "RedeemCode", err, nil)
		wantRecord(t, "RedeemCode", codeRecord(gid, now), got)
		g, err := e.Grants.GetGrant(e.ctx, gid)
		wantErr(t, "GetGrant(new)", err, nil)
		wantRecord(t, "GetGrant(new)", grantRecord(gid, now), g)
		g, err = e.Grants.GetGrant(e.ctx, existing)
		wantErr(t, "GetGrant(existing)", err, nil)
		wantRecord(t, "GetGrant(existing) after a redemption naming it", grantRecord(existing, now), g)
		r, err := e.Grants.GetRefresh(e.ctx, rd)
		wantErr(t, "GetRefresh", err, nil)
		wantRecord(t, "GetRefresh", refreshRecord(gid, now, 0), r)
		got, err = e.Grants.RedeemCode(e.ctx, d, redemption(id("grant"), existing, now, digest(), 1))
		wantErr(t, "RedeemCode(again)", err, store.ErrCodeReplayed)
		wantRecord(t, "RedeemCode(again)", codeRecord(gid, now), got)
		_, err = e.Grants.GetCode(e.ctx, d)
		wantErr(t, "GetCode(redeemed)", err, store.ErrCodeReplayed)
	}},
	{"RedeemWithoutRefresh", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		d := digest()
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, d, codeRecord(gid, now)), nil)
		_, err := e.Grants.RedeemCode(e.ctx, d, &store.Redemption{})
		wantErr(t, "RedeemCode", err, nil)
		_, err = e.Grants.ConsumeCode(e.ctx, d)
		wantErr(t, "ConsumeCode(redeemed)", err, store.ErrCodeReplayed)
	}},
	{"RedeemUnknownOrExpired", func(t *testing.T, e env) {
		now := e.now()
		gid := id("grant")
		_, err := e.Grants.RedeemCode(e.ctx, digest(), redemption(gid, e.grant(t, now), now, digest(), 0))
		wantErr(t, "RedeemCode(unknown)", err, store.ErrNotFound)
		exp := codeRecord(gid, now)
		exp.ExpiresAt = now.Add(-time.Second)
		d, rd := digest(), digest()
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, d, exp), nil)
		_, err = e.Grants.RedeemCode(e.ctx, d, redemption(gid, e.grant(t, now), now, rd, 0))
		wantErr(t, "RedeemCode(expired)", err, store.ErrNotFound)
		_, err = e.Grants.GetGrant(e.ctx, gid)
		wantErr(t, "GetGrant after a failed redemption", err, store.ErrNotFound)
		_, err = e.Grants.GetRefresh(e.ctx, rd)
		wantErr(t, "GetRefresh after a failed redemption", err, store.ErrNotFound)
	}},
	// A failure after the code's consumption inside the redemption (here:
	// the refresh token's digest is taken) must undo the consumption and
	// the grants: the client's retry then redeems the code.
	{"FailureAfterConsumeLeavesCodeRedeemable", func(t *testing.T, e env) {
		now := e.now()
		existing := e.grant(t, now)
		gid, d, taken := id("grant"), digest(), digest()
		wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, taken, refreshRecord(existing, now, 7)), nil)
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, d, codeRecord(gid, now)), nil)
		_, err := e.Grants.RedeemCode(e.ctx, d, redemption(gid, existing, now, taken, 0))
		wantErr(t, "RedeemCode(refresh digest taken)", err, store.ErrConflict)
		got, err := e.Grants.GetCode(e.ctx, d)
		wantErr(t, "GetCode after a failed redemption", err, nil)
		wantRecord(t, "GetCode after a failed redemption", codeRecord(gid, now), got)
		_, err = e.Grants.GetGrant(e.ctx, gid)
		wantErr(t, "GetGrant after a failed redemption", err, store.ErrNotFound)
		r, err := e.Grants.GetRefresh(e.ctx, taken)
		wantErr(t, "GetRefresh(taken digest)", err, nil)
		wantRecord(t, "GetRefresh(taken digest) after a failed redemption", refreshRecord(existing, now, 7), r)

		rd := digest()
		got, err = e.Grants.RedeemCode(e.ctx, d, redemption(gid, existing, now, rd, 0))
		wantErr(t, "RedeemCode(retry)", err, nil)
		wantRecord(t, "RedeemCode(retry)", codeRecord(gid, now), got)
		_, err = e.Grants.GetGrant(e.ctx, gid)
		wantErr(t, "GetGrant after the retry", err, nil)
		_, err = e.Grants.GetRefresh(e.ctx, rd)
		wantErr(t, "GetRefresh after the retry", err, nil)
	}},
	{"ConcurrentRedeem", func(t *testing.T, e env) {
		now := e.now()
		existing := e.grant(t, now)
		for range rounds {
			gid, d := id("grant"), digest()
			rds := make([]string, racers)
			for i := range rds {
				rds[i] = digest()
			}
			wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, d, codeRecord(gid, now)), nil)
			recs, errs := race(racers, func(i int) (*store.CodeRecord, error) {
				return e.Grants.RedeemCode(e.ctx, d, redemption(gid, existing, now, rds[i], i))
			})
			w := tally(t, "RedeemCode", errs, store.ErrCodeReplayed)
			for _, rec := range recs {
				wantRecord(t, "RedeemCode racer", codeRecord(gid, now), rec)
			}
			for i, rd := range rds {
				got, err := e.Grants.GetRefresh(e.ctx, rd)
				if i != w {
					wantErr(t, "GetRefresh(loser's refresh token)", err, store.ErrNotFound)
					continue
				}
				wantErr(t, "GetRefresh(winner's refresh token)", err, nil)
				wantRecord(t, "GetRefresh(winner's refresh token)", refreshRecord(gid, now, i), got)
			}
		}
	}},
}

// rotated saves a refresh token and rotates it once with the retry window;
// it returns the old digest and its successor's.
func (e env) rotated(t *testing.T, gid string, now time.Time, window time.Duration) (old, next string) {
	t.Helper()
	old, next = digest(), digest()
	wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, old, refreshRecord(gid, now, 0)), nil)
	_, err := e.Grants.RotateRefresh(e.ctx, old, next, refreshRecord(gid, now, 1), window)
	wantErr(t, "RotateRefresh", err, nil)
	return old, next
}

const window = 10 * time.Second

var refreshRetryTests = []testCase{
	{"EmptyFieldsRoundTrip", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		d := digest()
		want := refreshRecord(gid, now, 0)
		want.Resource, want.Scopes, want.Upstream, want.AccessTokenID, want.AccessExpiresAt = "", nil, nil, "", time.Time{}
		wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, d, want), nil)
		got, err := e.Grants.GetRefresh(e.ctx, d)
		wantErr(t, "GetRefresh", err, nil)
		wantRecord(t, "GetRefresh", want, got)
	}},
	{"RetryWithinWindow", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		old, lost := e.rotated(t, gid, now, window)
		again := digest()
		got, err := e.Grants.RotateRefresh(e.ctx, old, again, refreshRecord(gid, now, 2), window)
		wantErr(t, "RotateRefresh(retry within the window)", err, nil)
		wantRecord(t, "RotateRefresh(retry within the window)", refreshRecord(gid, now, 0), got)
		_, err = e.Grants.GetRefresh(e.ctx, lost)
		wantErr(t, "GetRefresh(the successor never received)", err, store.ErrNotFound)
		// Its access token dies with it; the retry's does not.
		for jti, want := range map[string]bool{refreshRecord(gid, now, 1).AccessTokenID: true, refreshRecord(gid, now, 2).AccessTokenID: false} {
			revoked, err := e.Grants.IsRevoked(e.ctx, jti, "")
			wantErr(t, "IsRevoked", err, nil)
			if revoked != want {
				t.Errorf("IsRevoked(%s) after the retry = %v, want %v", jti, revoked, want)
			}
		}
		r, err := e.Grants.GetRefresh(e.ctx, again)
		wantErr(t, "GetRefresh(the retry's token)", err, nil)
		wantRecord(t, "GetRefresh(the retry's token)", refreshRecord(gid, now, 2), r)
		// The dead successor, presented after all, is reuse.
		_, err = e.Grants.RotateRefresh(e.ctx, lost, digest(), refreshRecord(gid, now, 3), window)
		wantErr(t, "RotateRefresh(the dead successor)", err, store.ErrRefreshReused)
		// One retry per token: a second one is reuse, and leaves the
		// first retry's token alone.
		_, err = e.Grants.RotateRefresh(e.ctx, old, digest(), refreshRecord(gid, now, 4), window)
		wantErr(t, "RotateRefresh(second retry)", err, store.ErrRefreshReused)
		_, err = e.Grants.GetRefresh(e.ctx, again)
		wantErr(t, "GetRefresh(the retry's token) after a second retry", err, nil)
	}},
	{"NoRetryForAnotherClient", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		old, next := e.rotated(t, gid, now, window)
		other := refreshRecord(gid, now, 2)
		other.ClientID = "another-client"
		_, err := e.Grants.RotateRefresh(e.ctx, old, digest(), other, window)
		wantErr(t, "RotateRefresh(retry by another client)", err, store.ErrRefreshReused)
		_, err = e.Grants.GetRefresh(e.ctx, next)
		wantErr(t, "GetRefresh(successor) after a refused retry", err, nil)
	}},
	{"NoRetryWithoutWindow", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		old, next := e.rotated(t, gid, now, window)
		_, err := e.Grants.RotateRefresh(e.ctx, old, digest(), refreshRecord(gid, now, 2), 0)
		wantErr(t, "RotateRefresh(window 0)", err, store.ErrRefreshReused)
		_, err = e.Grants.GetRefresh(e.ctx, next)
		wantErr(t, "GetRefresh(successor) after a refused retry", err, nil)
	}},
	// Only the immediately previous token: once its successor was used, the
	// client did receive it, and the old token is plain reuse.
	{"NoRetryOnceSuccessorUsed", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		old, next := e.rotated(t, gid, now, window)
		newest := digest()
		_, err := e.Grants.RotateRefresh(e.ctx, next, newest, refreshRecord(gid, now, 2), window)
		wantErr(t, "RotateRefresh(successor)", err, nil)
		_, err = e.Grants.RotateRefresh(e.ctx, old, digest(), refreshRecord(gid, now, 3), window)
		wantErr(t, "RotateRefresh(grandparent)", err, store.ErrRefreshReused)
		_, err = e.Grants.GetRefresh(e.ctx, newest)
		wantErr(t, "GetRefresh(newest) after a refused retry", err, nil)
	}},
	{"NoRetryAfterWindow", func(t *testing.T, e env) {
		if e.Advance == nil {
			t.Skip("the factory's clock cannot advance")
		}
		now := e.now()
		gid := e.grant(t, now)
		old, next := e.rotated(t, gid, now, window)
		e.Advance(window + time.Second)
		_, err := e.Grants.RotateRefresh(e.ctx, old, digest(), refreshRecord(gid, now, 2), window)
		wantErr(t, "RotateRefresh(retry after the window)", err, store.ErrRefreshReused)
		_, err = e.Grants.GetRefresh(e.ctx, next)
		wantErr(t, "GetRefresh(successor) after a refused retry", err, nil)
	}},
	{"ConcurrentRetries", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		old, _ := e.rotated(t, gid, now, window)
		news := make([]string, racers)
		for i := range news {
			news[i] = digest()
		}
		_, errs := race(racers, func(i int) (*store.RefreshRecord, error) {
			return e.Grants.RotateRefresh(e.ctx, old, news[i], refreshRecord(gid, now, i+2), window)
		})
		tally(t, "RotateRefresh(concurrent retry)", errs, store.ErrRefreshReused)
		live := 0
		for _, d := range news {
			if _, err := e.Grants.GetRefresh(e.ctx, d); err == nil {
				live++
			}
		}
		if live != 1 {
			t.Errorf("after %d concurrent retries %d tokens are live, want exactly 1", racers, live)
		}
	}},
}

var tombstoneTests = []testCase{
	// A revoked grant answers IsRevoked until its expiry, which bounds every
	// access token issued for it: the sweep must not drop it earlier.
	{"RevokedGrantOutlivesSweepsUntilExpiry", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now) // expires at now+1h
		wantErr(t, "RevokeGrant", e.Grants.RevokeGrant(e.ctx, gid, now), nil)
		for _, at := range []time.Time{now, now.Add(30 * time.Minute), now.Add(time.Hour - time.Second)} {
			_, err := e.Grants.DeleteExpired(e.ctx, at, 1000)
			wantErr(t, "DeleteExpired", err, nil)
			revoked, err := e.Grants.IsRevoked(e.ctx, digest(), gid)
			wantErr(t, "IsRevoked", err, nil)
			if !revoked {
				t.Fatalf("IsRevoked after DeleteExpired at expiry%v = false, want true", at.Sub(now.Add(time.Hour)))
			}
		}
	}},
}

var pendingCapTests = []testCase{
	{"TrimKeepsNewest", func(t *testing.T, e env) {
		now := e.now()
		ds := make([]string, 10)
		for i := range ds {
			ds[i] = digest()
			wantErr(t, "SavePending", e.Grants.SavePending(e.ctx, ds[i], pendingRecord(ds[i], now)), nil)
		}
		n, err := e.Grants.TrimPending(e.ctx, 4)
		wantErr(t, "TrimPending", err, nil)
		if n != 6 {
			t.Errorf("TrimPending(4) of 10 removed %d, want 6", n)
		}
		for i, d := range ds {
			_, err := e.Grants.GetPending(e.ctx, d)
			if i < 6 {
				wantErr(t, "GetPending(oldest, trimmed)", err, store.ErrNotFound)
			} else {
				wantErr(t, "GetPending(newest, kept)", err, nil)
			}
		}
		_, err = e.Grants.ConsumePending(e.ctx, ds[9])
		wantErr(t, "ConsumePending", err, nil)
		n, err = e.Grants.TrimPending(e.ctx, 4)
		wantErr(t, "TrimPending(under the cap)", err, nil)
		if n != 0 {
			t.Errorf("TrimPending(4) of 3 removed %d, want 0", n)
		}
		more := digest()
		wantErr(t, "SavePending", e.Grants.SavePending(e.ctx, more, pendingRecord(more, now)), nil)
		// Live: ds[6], ds[7], ds[8], more. Keeping 2 drops ds[6] and ds[7]
		// at least (a store counting saves may drop ds[8] as well).
		n, err = e.Grants.TrimPending(e.ctx, 2)
		wantErr(t, "TrimPending(2)", err, nil)
		if n != 2 && n != 3 {
			t.Errorf("TrimPending(2) of 4 removed %d, want 2 (or 3 counting saves)", n)
		}
		for _, d := range ds[6:8] {
			_, err := e.Grants.GetPending(e.ctx, d)
			wantErr(t, "GetPending(older than the newest two)", err, store.ErrNotFound)
		}
		_, err = e.Grants.GetPending(e.ctx, more)
		wantErr(t, "GetPending(newest)", err, nil)
	}},
}

var clientSweepTests = []testCase{
	{"DeletesOnlyUnused", func(t *testing.T, e env) {
		now := e.now()
		sw := e.Clients.(store.ClientSweeper)
		idle, used, neverUsedOld, neverUsedNew := id("idle"), id("used"), id("old"), id("new")
		c := fullClient(idle, now)
		c.IssuedAt, c.LastUsedAt = now.Add(-200*24*time.Hour), now.Add(-100*24*time.Hour)
		wantErr(t, "SetClient", e.Clients.SetClient(e.ctx, c), nil)
		c = fullClient(used, now)
		c.IssuedAt, c.LastUsedAt = now.Add(-200*24*time.Hour), now.Add(-24*time.Hour)
		wantErr(t, "SetClient", e.Clients.SetClient(e.ctx, c), nil)
		c = publicClient(neverUsedOld, now.Add(-100*24*time.Hour))
		wantErr(t, "SetClient", e.Clients.SetClient(e.ctx, c), nil)
		c = publicClient(neverUsedNew, now.Add(-time.Hour))
		wantErr(t, "SetClient", e.Clients.SetClient(e.ctx, c), nil)

		n, err := sw.DeleteUnusedClients(e.ctx, now.Add(-90*24*time.Hour), 1)
		wantErr(t, "DeleteUnusedClients(limit 1)", err, nil)
		if n != 1 {
			t.Errorf("DeleteUnusedClients(limit 1) = %d, want 1", n)
		}
		n, err = sw.DeleteUnusedClients(e.ctx, now.Add(-90*24*time.Hour), 100)
		wantErr(t, "DeleteUnusedClients", err, nil)
		if n != 1 {
			t.Errorf("DeleteUnusedClients = %d, want 1 more", n)
		}
		for cid, want := range map[string]error{idle: store.ErrNotFound, neverUsedOld: store.ErrNotFound, used: nil, neverUsedNew: nil} {
			_, err := e.Clients.GetClient(e.ctx, cid)
			wantErr(t, "GetClient("+cid+") after the sweep", err, want)
		}
	}},
}
