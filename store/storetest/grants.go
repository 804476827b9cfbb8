package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// Fixtures. Each is a pure function of its arguments, so calling one again
// gives an equal, unshared value to compare with.

func grantRecord(grantID string, now time.Time) *store.GrantRecord {
	return &store.GrantRecord{
		ID:              grantID,
		ClientID:        "client-" + grantID,
		Subject:         "usér-" + grantID,
		Scopes:          []string{"write", "read", "offline_access"},
		Resource:        "https://mcp.example.com/mcp",
		CreatedAt:       now.Add(-time.Minute),
		ExpiresAt:       now.Add(time.Hour),
		UpstreamGrantID: "grnt_" + grantID,
	}
}

func codeRecord(grantID string, now time.Time) *store.CodeRecord {
	return &store.CodeRecord{
		GrantID:       grantID,
		ClientID:      "client-" + grantID,
		Subject:       "usér-" + grantID,
		RedirectURI:   "http://127.0.0.1:8765/callback?x=1",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Resource:      "https://mcp.example.com/mcp",
		Scopes:        []string{"write", "read"},
		AuthTime:      now.Add(-2 * time.Minute),
		ExpiresAt:     now.Add(time.Hour),
		Upstream:      blob("code " + grantID),
	}
}

// refreshRecord's gen tells apart the tokens of one grant's rotation chain.
func refreshRecord(grantID string, now time.Time, gen int) *store.RefreshRecord {
	g := strconv.Itoa(gen)
	return &store.RefreshRecord{
		GrantID:   grantID,
		ClientID:  "client-" + grantID,
		Subject:   "usér-" + grantID,
		Scopes:    []string{"read", "gen" + g},
		Resource:  "https://mcp.example.com/mcp",
		IssuedAt:  now.Add(time.Duration(gen) * time.Millisecond),
		ExpiresAt: now.Add(time.Hour + time.Duration(gen)*time.Millisecond),
		Upstream:  blob("refresh " + grantID + " " + g),

		AccessTokenID:   "jti-" + grantID + "-" + g,
		AccessExpiresAt: now.Add(time.Hour + time.Duration(gen)*time.Millisecond),
	}
}

func pendingRecord(key string, now time.Time) *store.PendingAuthorization {
	return &store.PendingAuthorization{
		ClientID:      "client-" + key,
		RedirectURI:   "https://app.example.com/cb",
		State:         "st&te=" + key,
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Resource:      "https://mcp.example.com/mcp",
		Scopes:        []string{"read"},
		Subject:       "usér-" + key,
		ExpiresAt:     now.Add(time.Hour),
		Upstream:      blob("pending " + key),
	}
}

// grant creates a live grant and returns its ID.
func (e env) grant(t *testing.T, now time.Time) string {
	t.Helper()
	gid := id("grant")
	wantErr(t, "CreateGrant", e.Grants.CreateGrant(e.ctx, grantRecord(gid, now)), nil)
	return gid
}

var codeTests = []testCase{
	{"ConsumeReturnsRecord", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		d := digest()
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, d, codeRecord(gid, now)), nil)
		got, err := e.Grants.ConsumeCode(e.ctx, d)
		wantErr(t, "ConsumeCode", err, nil)
		wantRecord(t, "ConsumeCode", codeRecord(gid, now), got)
		allSet(t, codeRecord(gid, now))
	}},
	{"EmptyFieldsRoundTrip", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		d := digest()
		want := codeRecord(gid, now)
		want.Resource, want.Scopes, want.Upstream = "", nil, nil
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, d, want), nil)
		got, err := e.Grants.ConsumeCode(e.ctx, d)
		wantErr(t, "ConsumeCode", err, nil)
		wantRecord(t, "ConsumeCode", want, got)
	}},
	{"Replay", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		d := digest()
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, d, codeRecord(gid, now)), nil)
		_, err := e.Grants.ConsumeCode(e.ctx, d)
		wantErr(t, "ConsumeCode", err, nil)
		for range 2 {
			got, err := e.Grants.ConsumeCode(e.ctx, d)
			wantErr(t, "ConsumeCode(consumed)", err, store.ErrCodeReplayed)
			wantRecord(t, "ConsumeCode(consumed)", codeRecord(gid, now), got)
		}
	}},
	{"Unknown", func(t *testing.T, e env) {
		_, err := e.Grants.ConsumeCode(e.ctx, digest())
		wantErr(t, "ConsumeCode(unknown)", err, store.ErrNotFound)
	}},
	{"Expired", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		d := digest()
		rec := codeRecord(gid, now)
		rec.ExpiresAt = now.Add(-time.Hour)
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, d, rec), nil)
		_, err := e.Grants.ConsumeCode(e.ctx, d)
		wantErr(t, "ConsumeCode(expired)", err, store.ErrNotFound)
	}},
	{"SaveConflict", func(t *testing.T, e env) {
		now := e.now()
		gid, other := e.grant(t, now), e.grant(t, now)
		d := digest()
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, d, codeRecord(gid, now)), nil)
		err := e.Grants.SaveCode(e.ctx, d, codeRecord(other, now))
		wantErr(t, "SaveCode(same digest)", err, store.ErrConflict)
		got, err := e.Grants.ConsumeCode(e.ctx, d)
		wantErr(t, "ConsumeCode", err, nil)
		wantRecord(t, "ConsumeCode after a conflicting save", codeRecord(gid, now), got)
	}},
	{"Copies", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		d := digest()
		in := codeRecord(gid, now)
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, d, in), nil)
		mutateSlices(in.Scopes, in.Upstream)
		got, err := e.Grants.ConsumeCode(e.ctx, d)
		wantErr(t, "ConsumeCode", err, nil)
		wantRecord(t, "ConsumeCode after mutating the saved value", codeRecord(gid, now), got)
		mutateSlices(got.Scopes, got.Upstream)
		got, err = e.Grants.ConsumeCode(e.ctx, d)
		wantErr(t, "ConsumeCode(consumed)", err, store.ErrCodeReplayed)
		wantRecord(t, "ConsumeCode after mutating a returned value", codeRecord(gid, now), got)
	}},
	{"ConcurrentConsume", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		for range rounds {
			d := digest()
			wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, d, codeRecord(gid, now)), nil)
			recs, errs := race(racers, func(int) (*store.CodeRecord, error) {
				return e.Grants.ConsumeCode(e.ctx, d)
			})
			tally(t, "ConsumeCode", errs, store.ErrCodeReplayed)
			for _, rec := range recs {
				wantRecord(t, "ConsumeCode racer", codeRecord(gid, now), rec)
			}
		}
	}},
}

var grantTests = []testCase{
	{"RoundTrip", func(t *testing.T, e env) {
		now := e.now()
		gid := id("grant")
		wantErr(t, "CreateGrant", e.Grants.CreateGrant(e.ctx, grantRecord(gid, now)), nil)
		got, err := e.Grants.GetGrant(e.ctx, gid)
		wantErr(t, "GetGrant", err, nil)
		wantRecord(t, "GetGrant", grantRecord(gid, now), got)
		allSet(t, grantRecord(gid, now), "RevokedAt")
	}},
	{"CreateConflict", func(t *testing.T, e env) {
		now := e.now()
		gid := id("grant")
		wantErr(t, "CreateGrant", e.Grants.CreateGrant(e.ctx, grantRecord(gid, now)), nil)
		dup := grantRecord(gid, now)
		dup.Subject, dup.Scopes = "someone-else", []string{"admin"}
		wantErr(t, "CreateGrant(same id)", e.Grants.CreateGrant(e.ctx, dup), store.ErrConflict)
		got, err := e.Grants.GetGrant(e.ctx, gid)
		wantErr(t, "GetGrant", err, nil)
		wantRecord(t, "GetGrant after a conflicting create", grantRecord(gid, now), got)
	}},
	{"Unknown", func(t *testing.T, e env) {
		_, err := e.Grants.GetGrant(e.ctx, id("grant"))
		wantErr(t, "GetGrant(unknown)", err, store.ErrNotFound)
	}},
	{"Expired", func(t *testing.T, e env) {
		now := e.now()
		gid := id("grant")
		g := grantRecord(gid, now)
		g.CreatedAt, g.ExpiresAt = now.Add(-2*time.Hour), now.Add(-time.Hour)
		wantErr(t, "CreateGrant", e.Grants.CreateGrant(e.ctx, g), nil)
		_, err := e.Grants.GetGrant(e.ctx, gid)
		wantErr(t, "GetGrant(expired)", err, store.ErrNotFound)
	}},
	{"Revoke", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		at := now.Add(-time.Second)
		wantErr(t, "RevokeGrant", e.Grants.RevokeGrant(e.ctx, gid, at), nil)
		want := grantRecord(gid, now)
		want.RevokedAt = at
		got, err := e.Grants.GetGrant(e.ctx, gid)
		wantErr(t, "GetGrant(revoked)", err, nil)
		wantRecord(t, "GetGrant(revoked)", want, got)

		wantErr(t, "RevokeGrant(again)", e.Grants.RevokeGrant(e.ctx, gid, now), nil)
		got, err = e.Grants.GetGrant(e.ctx, gid)
		wantErr(t, "GetGrant(revoked twice)", err, nil)
		if got.RevokedAt.IsZero() {
			t.Errorf("GetGrant(revoked twice).RevokedAt is zero")
		}
		wantErr(t, "RevokeGrant(unknown)", e.Grants.RevokeGrant(e.ctx, id("grant"), now), nil)
	}},
	{"RevokeEndsRefreshTokens", func(t *testing.T, e env) {
		now := e.now()
		gid, other := e.grant(t, now), e.grant(t, now)
		d1, d2, dOther := digest(), digest(), digest()
		wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, d1, refreshRecord(gid, now, 0)), nil)
		wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, d2, refreshRecord(gid, now, 1)), nil)
		wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, dOther, refreshRecord(other, now, 0)), nil)
		wantErr(t, "RevokeGrant", e.Grants.RevokeGrant(e.ctx, gid, now), nil)
		for _, d := range []string{d1, d2} {
			_, err := e.Grants.GetRefresh(e.ctx, d)
			wantErr(t, "GetRefresh(revoked grant)", err, store.ErrNotFound)
		}
		next := digest()
		_, err := e.Grants.RotateRefresh(e.ctx, d1, next, refreshRecord(gid, now, 2), 0)
		wantErr(t, "RotateRefresh(revoked grant)", err, store.ErrNotFound)
		_, err = e.Grants.GetRefresh(e.ctx, next)
		wantErr(t, "GetRefresh(rotation target of revoked grant)", err, store.ErrNotFound)
		got, err := e.Grants.GetRefresh(e.ctx, dOther)
		wantErr(t, "GetRefresh(other grant)", err, nil)
		wantRecord(t, "GetRefresh(other grant)", refreshRecord(other, now, 0), got)
	}},
}

var refreshTests = []testCase{
	{"SaveGet", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		d := digest()
		wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, d, refreshRecord(gid, now, 0)), nil)
		for range 2 { // GetRefresh does not use the token up
			got, err := e.Grants.GetRefresh(e.ctx, d)
			wantErr(t, "GetRefresh", err, nil)
			wantRecord(t, "GetRefresh", refreshRecord(gid, now, 0), got)
		}
		allSet(t, refreshRecord(gid, now, 0))
	}},
	{"Rotate", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		old, next, newer := digest(), digest(), digest()
		wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, old, refreshRecord(gid, now, 0)), nil)
		got, err := e.Grants.RotateRefresh(e.ctx, old, next, refreshRecord(gid, now, 1), 0)
		wantErr(t, "RotateRefresh", err, nil)
		wantRecord(t, "RotateRefresh", refreshRecord(gid, now, 0), got)
		_, err = e.Grants.GetRefresh(e.ctx, old)
		wantErr(t, "GetRefresh(rotated)", err, store.ErrNotFound)
		got, err = e.Grants.GetRefresh(e.ctx, next)
		wantErr(t, "GetRefresh(new)", err, nil)
		wantRecord(t, "GetRefresh(new)", refreshRecord(gid, now, 1), got)

		// Reuse: the old record comes back and nothing is stored.
		got, err = e.Grants.RotateRefresh(e.ctx, old, newer, refreshRecord(gid, now, 2), 0)
		wantErr(t, "RotateRefresh(rotated)", err, store.ErrRefreshReused)
		wantRecord(t, "RotateRefresh(rotated)", refreshRecord(gid, now, 0), got)
		_, err = e.Grants.GetRefresh(e.ctx, newer)
		wantErr(t, "GetRefresh(target of a reuse)", err, store.ErrNotFound)

		// The new token rotates like any other.
		got, err = e.Grants.RotateRefresh(e.ctx, next, newer, refreshRecord(gid, now, 2), 0)
		wantErr(t, "RotateRefresh(new)", err, nil)
		wantRecord(t, "RotateRefresh(new)", refreshRecord(gid, now, 1), got)
		got, err = e.Grants.GetRefresh(e.ctx, newer)
		wantErr(t, "GetRefresh(newer)", err, nil)
		wantRecord(t, "GetRefresh(newer)", refreshRecord(gid, now, 2), got)
	}},
	{"Lookup", func(t *testing.T, e env) {
		// LookupRefresh tells a rotated token (reuse) from an unknown one,
		// and writes nothing: what it says, RotateRefresh would answer.
		now := e.now()
		gid := e.grant(t, now)
		old, next, lost, again := digest(), digest(), digest(), digest()
		wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, old, refreshRecord(gid, now, 0)), nil)
		got, err := e.Grants.LookupRefresh(e.ctx, old)
		wantErr(t, "LookupRefresh(live)", err, nil)
		wantRecord(t, "LookupRefresh(live)", refreshRecord(gid, now, 0), got)
		_, err = e.Grants.RotateRefresh(e.ctx, old, next, refreshRecord(gid, now, 1), 0)
		wantErr(t, "RotateRefresh", err, nil)
		for range 2 { // a lookup is not a use
			got, err = e.Grants.LookupRefresh(e.ctx, old)
			wantErr(t, "LookupRefresh(rotated)", err, store.ErrRefreshReused)
			wantRecord(t, "LookupRefresh(rotated)", refreshRecord(gid, now, 0), got)
		}
		got, err = e.Grants.LookupRefresh(e.ctx, next)
		wantErr(t, "LookupRefresh(successor)", err, nil)
		wantRecord(t, "LookupRefresh(successor)", refreshRecord(gid, now, 1), got)
		_, err = e.Grants.RotateRefresh(e.ctx, old, lost, refreshRecord(gid, now, 2), 0)
		wantErr(t, "RotateRefresh(rotated)", err, store.ErrRefreshReused)
		_, err = e.Grants.LookupRefresh(e.ctx, lost)
		wantErr(t, "LookupRefresh(target of a reuse)", err, store.ErrNotFound)
		_, err = e.Grants.LookupRefresh(e.ctx, again)
		wantErr(t, "LookupRefresh(unknown)", err, store.ErrNotFound)

		expired := digest()
		rec := refreshRecord(gid, now, 3)
		rec.IssuedAt, rec.ExpiresAt = now.Add(-2*time.Hour), now.Add(-time.Hour)
		wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, expired, rec), nil)
		_, err = e.Grants.LookupRefresh(e.ctx, expired)
		wantErr(t, "LookupRefresh(expired)", err, store.ErrNotFound)

		wantErr(t, "RevokeGrant", e.Grants.RevokeGrant(e.ctx, gid, now), nil)
		for _, d := range []string{old, next} {
			_, err = e.Grants.LookupRefresh(e.ctx, d)
			wantErr(t, "LookupRefresh(revoked grant)", err, store.ErrNotFound)
		}
	}},
	{"Expired", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		d, next := digest(), digest()
		rec := refreshRecord(gid, now, 0)
		rec.IssuedAt, rec.ExpiresAt = now.Add(-2*time.Hour), now.Add(-time.Hour)
		wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, d, rec), nil)
		_, err := e.Grants.GetRefresh(e.ctx, d)
		wantErr(t, "GetRefresh(expired)", err, store.ErrNotFound)
		_, err = e.Grants.RotateRefresh(e.ctx, d, next, refreshRecord(gid, now, 1), 0)
		wantErr(t, "RotateRefresh(expired)", err, store.ErrNotFound)
		_, err = e.Grants.GetRefresh(e.ctx, next)
		wantErr(t, "GetRefresh(rotation target of expired)", err, store.ErrNotFound)
	}},
	{"Unknown", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		_, err := e.Grants.GetRefresh(e.ctx, digest())
		wantErr(t, "GetRefresh(unknown)", err, store.ErrNotFound)
		next := digest()
		_, err = e.Grants.RotateRefresh(e.ctx, digest(), next, refreshRecord(gid, now, 1), 0)
		wantErr(t, "RotateRefresh(unknown)", err, store.ErrNotFound)
		_, err = e.Grants.GetRefresh(e.ctx, next)
		wantErr(t, "GetRefresh(rotation target of unknown)", err, store.ErrNotFound)
	}},
	{"SaveConflict", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		d := digest()
		wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, d, refreshRecord(gid, now, 0)), nil)
		err := e.Grants.SaveRefresh(e.ctx, d, refreshRecord(gid, now, 1))
		wantErr(t, "SaveRefresh(same digest)", err, store.ErrConflict)
		got, err := e.Grants.GetRefresh(e.ctx, d)
		wantErr(t, "GetRefresh", err, nil)
		wantRecord(t, "GetRefresh after a conflicting save", refreshRecord(gid, now, 0), got)
	}},
	{"Copies", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		d, next := digest(), digest()
		in := refreshRecord(gid, now, 0)
		wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, d, in), nil)
		mutateSlices(in.Scopes, in.Upstream)
		got, err := e.Grants.GetRefresh(e.ctx, d)
		wantErr(t, "GetRefresh", err, nil)
		wantRecord(t, "GetRefresh after mutating the saved value", refreshRecord(gid, now, 0), got)
		mutateSlices(got.Scopes, got.Upstream)
		in = refreshRecord(gid, now, 1)
		got, err = e.Grants.RotateRefresh(e.ctx, d, next, in, 0)
		wantErr(t, "RotateRefresh", err, nil)
		wantRecord(t, "RotateRefresh after mutating a returned value", refreshRecord(gid, now, 0), got)
		mutateSlices(in.Scopes, in.Upstream)
		got, err = e.Grants.GetRefresh(e.ctx, next)
		wantErr(t, "GetRefresh(new)", err, nil)
		wantRecord(t, "GetRefresh(new) after mutating the rotated-in value", refreshRecord(gid, now, 1), got)
	}},
	{"ConcurrentRotate", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		for range rounds {
			old := digest()
			news := make([]string, racers)
			for i := range news {
				news[i] = digest()
			}
			wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, old, refreshRecord(gid, now, 0)), nil)
			recs, errs := race(racers, func(i int) (*store.RefreshRecord, error) {
				return e.Grants.RotateRefresh(e.ctx, old, news[i], refreshRecord(gid, now, i+1), 0)
			})
			w := tally(t, "RotateRefresh", errs, store.ErrRefreshReused)
			for _, rec := range recs {
				wantRecord(t, "RotateRefresh racer", refreshRecord(gid, now, 0), rec)
			}
			for i, d := range news {
				got, err := e.Grants.GetRefresh(e.ctx, d)
				if i != w {
					wantErr(t, "GetRefresh(loser's new digest)", err, store.ErrNotFound)
					continue
				}
				wantErr(t, "GetRefresh(winner's new digest)", err, nil)
				wantRecord(t, "GetRefresh(winner's new digest)", refreshRecord(gid, now, i+1), got)
			}
			_, err := e.Grants.GetRefresh(e.ctx, old)
			wantErr(t, "GetRefresh(rotated)", err, store.ErrNotFound)
		}
	}},
}

var denyTests = []testCase{
	{"Unknown", func(t *testing.T, e env) {
		for _, c := range []struct{ jti, grantID string }{
			{digest(), id("grant")}, {digest(), ""}, {"", id("grant")}, {"", ""},
		} {
			revoked, err := e.Grants.IsRevoked(e.ctx, c.jti, c.grantID)
			wantErr(t, "IsRevoked", err, nil)
			if revoked {
				t.Errorf("IsRevoked(%q, %q) = true for unknown ids", c.jti, c.grantID)
			}
		}
	}},
	{"DenyToken", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		jti := digest()
		wantErr(t, "DenyToken", e.Grants.DenyToken(e.ctx, jti, now.Add(time.Hour)), nil)
		wantErr(t, "DenyToken(again)", e.Grants.DenyToken(e.ctx, jti, now.Add(2*time.Hour)), nil)
		for _, c := range []struct {
			jti, grantID string
			want         bool
		}{
			{jti, "", true},
			{jti, gid, true},
			{jti, id("grant"), true},
			{digest(), gid, false},
			{"", gid, false},
		} {
			revoked, err := e.Grants.IsRevoked(e.ctx, c.jti, c.grantID)
			wantErr(t, "IsRevoked", err, nil)
			if revoked != c.want {
				t.Errorf("IsRevoked(%q, %q) = %v, want %v", c.jti, c.grantID, revoked, c.want)
			}
		}
	}},
	{"RevokedGrant", func(t *testing.T, e env) {
		now := e.now()
		gid, live := e.grant(t, now), e.grant(t, now)
		wantErr(t, "RevokeGrant", e.Grants.RevokeGrant(e.ctx, gid, now), nil)
		for _, c := range []struct {
			jti, grantID string
			want         bool
		}{
			{digest(), gid, true},
			{"", gid, true},
			{"", live, false},
			{digest(), live, false},
		} {
			revoked, err := e.Grants.IsRevoked(e.ctx, c.jti, c.grantID)
			wantErr(t, "IsRevoked", err, nil)
			if revoked != c.want {
				t.Errorf("IsRevoked(%q, %q) = %v, want %v", c.jti, c.grantID, revoked, c.want)
			}
		}
	}},
}

var pendingTests = []testCase{
	{"SaveGetConsume", func(t *testing.T, e env) {
		now := e.now()
		d, key := digest(), id("p")
		wantErr(t, "SavePending", e.Grants.SavePending(e.ctx, d, pendingRecord(key, now)), nil)
		for range 2 { // GetPending does not consume
			got, err := e.Grants.GetPending(e.ctx, d)
			wantErr(t, "GetPending", err, nil)
			wantRecord(t, "GetPending", pendingRecord(key, now), got)
		}
		got, err := e.Grants.ConsumePending(e.ctx, d)
		wantErr(t, "ConsumePending", err, nil)
		wantRecord(t, "ConsumePending", pendingRecord(key, now), got)
		_, err = e.Grants.ConsumePending(e.ctx, d)
		wantErr(t, "ConsumePending(consumed)", err, store.ErrNotFound)
		_, err = e.Grants.GetPending(e.ctx, d)
		wantErr(t, "GetPending(consumed)", err, store.ErrNotFound)
		allSet(t, pendingRecord(key, now))
	}},
	{"EmptyFieldsRoundTrip", func(t *testing.T, e env) {
		now := e.now()
		d := digest()
		want := pendingRecord(id("p"), now)
		want.State, want.Resource, want.Subject, want.Scopes, want.Upstream = "", "", "", nil, nil
		wantErr(t, "SavePending", e.Grants.SavePending(e.ctx, d, want), nil)
		got, err := e.Grants.ConsumePending(e.ctx, d)
		wantErr(t, "ConsumePending", err, nil)
		wantRecord(t, "ConsumePending", want, got)
	}},
	{"Unknown", func(t *testing.T, e env) {
		_, err := e.Grants.GetPending(e.ctx, digest())
		wantErr(t, "GetPending(unknown)", err, store.ErrNotFound)
		_, err = e.Grants.ConsumePending(e.ctx, digest())
		wantErr(t, "ConsumePending(unknown)", err, store.ErrNotFound)
	}},
	{"Expired", func(t *testing.T, e env) {
		now := e.now()
		d := digest()
		p := pendingRecord(id("p"), now)
		p.ExpiresAt = now.Add(-time.Hour)
		wantErr(t, "SavePending", e.Grants.SavePending(e.ctx, d, p), nil)
		_, err := e.Grants.GetPending(e.ctx, d)
		wantErr(t, "GetPending(expired)", err, store.ErrNotFound)
		_, err = e.Grants.ConsumePending(e.ctx, d)
		wantErr(t, "ConsumePending(expired)", err, store.ErrNotFound)
	}},
	{"SaveConflict", func(t *testing.T, e env) {
		now := e.now()
		d, key := digest(), id("p")
		wantErr(t, "SavePending", e.Grants.SavePending(e.ctx, d, pendingRecord(key, now)), nil)
		err := e.Grants.SavePending(e.ctx, d, pendingRecord(id("p"), now))
		wantErr(t, "SavePending(same digest)", err, store.ErrConflict)
		got, err := e.Grants.GetPending(e.ctx, d)
		wantErr(t, "GetPending", err, nil)
		wantRecord(t, "GetPending after a conflicting save", pendingRecord(key, now), got)
	}},
	{"Copies", func(t *testing.T, e env) {
		now := e.now()
		d, key := digest(), id("p")
		in := pendingRecord(key, now)
		wantErr(t, "SavePending", e.Grants.SavePending(e.ctx, d, in), nil)
		mutateSlices(in.Scopes, in.Upstream)
		got, err := e.Grants.GetPending(e.ctx, d)
		wantErr(t, "GetPending", err, nil)
		wantRecord(t, "GetPending after mutating the saved value", pendingRecord(key, now), got)
		mutateSlices(got.Scopes, got.Upstream)
		got, err = e.Grants.ConsumePending(e.ctx, d)
		wantErr(t, "ConsumePending", err, nil)
		wantRecord(t, "ConsumePending after mutating a returned value", pendingRecord(key, now), got)
	}},
	{"ConcurrentConsume", func(t *testing.T, e env) {
		now := e.now()
		for range rounds {
			d, key := digest(), id("p")
			wantErr(t, "SavePending", e.Grants.SavePending(e.ctx, d, pendingRecord(key, now)), nil)
			recs, errs := race(racers, func(int) (*store.PendingAuthorization, error) {
				return e.Grants.ConsumePending(e.ctx, d)
			})
			w := tally(t, "ConsumePending", errs, store.ErrNotFound)
			wantRecord(t, "ConsumePending winner", pendingRecord(key, now), recs[w])
		}
	}},
}

var deleteExpiredTests = []testCase{
	{"Empty", func(t *testing.T, e env) {
		n, err := e.Grants.DeleteExpired(e.ctx, e.now(), 100)
		wantErr(t, "DeleteExpired", err, nil)
		if n != 0 {
			t.Errorf("DeleteExpired on empty stores = %d, want 0", n)
		}
	}},
	{"Mix", func(t *testing.T, e env) {
		now := e.now()
		past := now.Add(-time.Hour)
		const each = 3 // expired records of each kind
		g := e.grant(t, now)

		// Expired: codes, refresh tokens of a live grant, deny-list
		// entries, pending logins, and grants with no tokens (so a foreign
		// key cascade cannot change the count).
		var expiredJTIs []string
		for range each {
			c := codeRecord(g, now)
			c.ExpiresAt = past
			wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, digest(), c), nil)
			r := refreshRecord(g, now, 0)
			r.ExpiresAt = past
			wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, digest(), r), nil)
			jti := digest()
			expiredJTIs = append(expiredJTIs, jti)
			wantErr(t, "DenyToken", e.Grants.DenyToken(e.ctx, jti, past), nil)
			p := pendingRecord(id("p"), now)
			p.ExpiresAt = past
			wantErr(t, "SavePending", e.Grants.SavePending(e.ctx, digest(), p), nil)
			eg := grantRecord(id("grant"), now)
			eg.CreatedAt, eg.ExpiresAt = past.Add(-time.Hour), past
			wantErr(t, "CreateGrant", e.Grants.CreateGrant(e.ctx, eg), nil)
		}
		const expired = 5 * each

		// Live: a fresh and a consumed code, a fresh and a rotated refresh
		// token (reuse must stay detectable), a deny-list entry, a pending
		// login, and a revoked grant (IsRevoked must keep answering).
		liveCode, usedCode := digest(), digest()
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, liveCode, codeRecord(g, now)), nil)
		wantErr(t, "SaveCode", e.Grants.SaveCode(e.ctx, usedCode, codeRecord(g, now)), nil)
		_, err := e.Grants.ConsumeCode(e.ctx, usedCode)
		wantErr(t, "ConsumeCode", err, nil)
		rotated, liveRefresh := digest(), digest()
		wantErr(t, "SaveRefresh", e.Grants.SaveRefresh(e.ctx, rotated, refreshRecord(g, now, 0)), nil)
		_, err = e.Grants.RotateRefresh(e.ctx, rotated, liveRefresh, refreshRecord(g, now, 1), 0)
		wantErr(t, "RotateRefresh", err, nil)
		liveJTI := digest()
		wantErr(t, "DenyToken", e.Grants.DenyToken(e.ctx, liveJTI, now.Add(time.Hour)), nil)
		livePending, key := digest(), id("p")
		wantErr(t, "SavePending", e.Grants.SavePending(e.ctx, livePending, pendingRecord(key, now)), nil)
		revoked := e.grant(t, now)
		wantErr(t, "RevokeGrant", e.Grants.RevokeGrant(e.ctx, revoked, now), nil)

		const limit = 4
		total := 0
		for range expired + 1 {
			n, err := e.Grants.DeleteExpired(e.ctx, now, limit)
			wantErr(t, "DeleteExpired", err, nil)
			if n < 0 || n > limit {
				t.Fatalf("DeleteExpired(limit %d) = %d", limit, n)
			}
			if n == 0 {
				break
			}
			total += n
		}
		if total != expired {
			t.Errorf("DeleteExpired removed %d records in all, want %d", total, expired)
		}

		_, err = e.Grants.ConsumeCode(e.ctx, liveCode)
		wantErr(t, "ConsumeCode(live) after DeleteExpired", err, nil)
		_, err = e.Grants.ConsumeCode(e.ctx, usedCode)
		wantErr(t, "ConsumeCode(consumed) after DeleteExpired", err, store.ErrCodeReplayed)
		got, err := e.Grants.GetRefresh(e.ctx, liveRefresh)
		wantErr(t, "GetRefresh(live) after DeleteExpired", err, nil)
		wantRecord(t, "GetRefresh(live) after DeleteExpired", refreshRecord(g, now, 1), got)
		_, err = e.Grants.RotateRefresh(e.ctx, rotated, digest(), refreshRecord(g, now, 2), 0)
		wantErr(t, "RotateRefresh(rotated) after DeleteExpired", err, store.ErrRefreshReused)
		gp, err := e.Grants.GetPending(e.ctx, livePending)
		wantErr(t, "GetPending(live) after DeleteExpired", err, nil)
		wantRecord(t, "GetPending(live) after DeleteExpired", pendingRecord(key, now), gp)
		gg, err := e.Grants.GetGrant(e.ctx, g)
		wantErr(t, "GetGrant(live) after DeleteExpired", err, nil)
		wantRecord(t, "GetGrant(live) after DeleteExpired", grantRecord(g, now), gg)
		for _, c := range []struct {
			jti, grantID string
			want         bool
		}{
			{liveJTI, "", true},
			{"", revoked, true},
			{expiredJTIs[0], "", false},
		} {
			r, err := e.Grants.IsRevoked(e.ctx, c.jti, c.grantID)
			wantErr(t, "IsRevoked after DeleteExpired", err, nil)
			if r != c.want {
				t.Errorf("IsRevoked(%q, %q) after DeleteExpired = %v, want %v", c.jti, c.grantID, r, c.want)
			}
		}
	}},
}

// mutateSlices scribbles over the first element of each non-empty slice.
func mutateSlices(scopes []string, upstream []byte) {
	if len(scopes) > 0 {
		scopes[0] = "mutated"
	}
	if len(upstream) > 0 {
		upstream[0] ^= 0xff
	}
}
