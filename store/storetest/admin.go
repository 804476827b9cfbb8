package storetest

// This file tests the listing roles (store.ClientLister,
// store.GrantLister): byte order, pagination, filters and expiry.

import (
	"slices"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// awkwardIDs sort differently in byte order than in most collations
// (case, accents, punctuation), so a store that lists in its database's
// collation fails.
func awkwardIDs(prefix string) []string {
	return []string{prefix + "B", prefix + "a", prefix + "a-1", prefix + "a_1", prefix + "é", prefix + "Z", prefix + "0"}
}

// pageClients lists every client page by page.
func (e env) pageClients(t *testing.T, limit int) []*store.Client {
	t.Helper()
	var all []*store.Client
	after := ""
	for range 100 {
		page, err := e.Clients.ListClients(e.ctx, after, limit)
		wantErr(t, "ListClients", err, nil)
		if len(page) > limit {
			t.Fatalf("ListClients(limit %d) returned %d clients", limit, len(page))
		}
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
		after = page[len(page)-1].ID
	}
	t.Fatal("ListClients never returned a short page")
	return nil
}

// pageGrants lists every grant matching f page by page.
func (e env) pageGrants(t *testing.T, f store.GrantFilter, limit int) []*store.GrantRecord {
	t.Helper()
	var all []*store.GrantRecord
	after := ""
	for range 100 {
		page, err := e.Grants.ListGrants(e.ctx, f, after, limit)
		wantErr(t, "ListGrants", err, nil)
		if len(page) > limit {
			t.Fatalf("ListGrants(limit %d) returned %d grants", limit, len(page))
		}
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
		after = page[len(page)-1].ID
	}
	t.Fatal("ListGrants never returned a short page")
	return nil
}

var listingTests = []testCase{
	{"ClientsEmpty", func(t *testing.T, e env) {
		if got := e.pageClients(t, 3); len(got) != 0 {
			t.Fatalf("ListClients on an empty store returned %d clients", len(got))
		}
	}},
	{"ClientsByteOrderAndPages", func(t *testing.T, e env) {
		now := e.now()
		ids := awkwardIDs("c")
		for _, cid := range ids {
			wantErr(t, "SetClient", e.Clients.SetClient(e.ctx, fullClient(cid, now)), nil)
		}
		slices.Sort(ids) // Go compares strings bytewise
		for _, limit := range []int{1, 2, 3, len(ids), len(ids) + 1} {
			got := e.pageClients(t, limit)
			var gotIDs []string
			for _, c := range got {
				gotIDs = append(gotIDs, c.ID)
			}
			if !slices.Equal(gotIDs, ids) {
				t.Fatalf("limit %d: listed %q, want %q", limit, gotIDs, ids)
			}
			wantRecord(t, "ListClients", fullClient(ids[0], now), got[0])
		}
		page, err := e.Clients.ListClients(e.ctx, "", 0)
		wantErr(t, "ListClients(limit 0)", err, nil)
		if len(page) != 0 {
			t.Fatalf("ListClients(limit 0) returned %d clients", len(page))
		}
		page, err = e.Clients.ListClients(e.ctx, ids[len(ids)-1], 5)
		wantErr(t, "ListClients(after the last)", err, nil)
		if len(page) != 0 {
			t.Fatalf("ListClients after the last id returned %d clients", len(page))
		}
	}},
	{"ClientsUnshared", func(t *testing.T, e env) {
		now := e.now()
		wantErr(t, "SetClient", e.Clients.SetClient(e.ctx, fullClient("x", now)), nil)
		page, err := e.Clients.ListClients(e.ctx, "", 5)
		wantErr(t, "ListClients", err, nil)
		mutateClient(page[0])
		got, err := e.Clients.GetClient(e.ctx, "x")
		wantErr(t, "GetClient", err, nil)
		wantRecord(t, "GetClient after mutating a listed client", fullClient("x", now), got)
	}},
	{"GrantsFiltersExpiryRevoked", func(t *testing.T, e env) {
		now := e.now()
		mk := func(gid, client, sub string, expires time.Time) *store.GrantRecord {
			g := grantRecord(gid, now)
			g.ClientID, g.Subject, g.ExpiresAt = client, sub, expires
			wantErr(t, "CreateGrant", e.Grants.CreateGrant(e.ctx, g), nil)
			return g
		}
		live := now.Add(time.Hour)
		var aliceA []string
		for _, gid := range awkwardIDs("g") {
			mk(gid, "client-a", "alice", live)
			aliceA = append(aliceA, gid)
		}
		mk("h1", "client-b", "alice", live)
		mk("h2", "client-a", "bob", live)
		mk("h3", "client-a", "alice", now.Add(-time.Second)) // expired: never listed
		revoked := mk("h4", "client-b", "bob", live)
		wantErr(t, "RevokeGrant", e.Grants.RevokeGrant(e.ctx, "h4", now), nil)
		revoked.RevokedAt = now

		ids := func(gs []*store.GrantRecord) []string {
			var out []string
			for _, g := range gs {
				out = append(out, g.ID)
			}
			return out
		}
		sorted := func(s ...string) []string { return slices.Sorted(slices.Values(s)) }
		cases := []struct {
			f    store.GrantFilter
			want []string
		}{
			{store.GrantFilter{Subject: "alice", ClientID: "client-a"}, sorted(aliceA...)},
			{store.GrantFilter{Subject: "alice"}, sorted(append(slices.Clone(aliceA), "h1")...)},
			{store.GrantFilter{ClientID: "client-a"}, sorted(append(slices.Clone(aliceA), "h2")...)},
			{store.GrantFilter{Subject: "bob"}, []string{"h2", "h4"}},
			{store.GrantFilter{ClientID: "client-b"}, []string{"h1", "h4"}},
			{store.GrantFilter{Subject: "carol"}, nil},
			{store.GrantFilter{}, sorted(append(slices.Clone(aliceA), "h1", "h2", "h4")...)},
		}
		for _, c := range cases {
			for _, limit := range []int{1, 2, 100} {
				if got := ids(e.pageGrants(t, c.f, limit)); !slices.Equal(got, c.want) {
					t.Errorf("ListGrants(%+v, limit %d) = %q, want %q", c.f, limit, got, c.want)
				}
			}
		}
		got := e.pageGrants(t, store.GrantFilter{Subject: "bob", ClientID: "client-b"}, 10)
		if len(got) != 1 {
			t.Fatalf("ListGrants(bob, client-b) returned %d grants, want the revoked one", len(got))
		}
		wantRecord(t, "ListGrants (revoked)", revoked, got[0])
	}},
}
