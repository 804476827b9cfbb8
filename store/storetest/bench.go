package storetest

import (
	"strconv"
	"testing"

	"github.com/mcpauth/mcpauth/store"
)

// RunBenchmarks runs the store benchmarks, each on fresh stores from
// newStores: ConsumeCode (a save and a consume per op), RedeemCode (a save,
// a read and a redemption with a refresh token per op, as /token does), RotateRefresh (one
// rotation along a chain per op), GetClient and SetClient (a new client per
// op). A sub-benchmark whose store is nil is skipped.
func RunBenchmarks(b *testing.B, newStores func(tb testing.TB) Stores) {
	b.Run("ConsumeCode", func(b *testing.B) {
		e := benchEnv(b, newStores)
		if e.Grants == nil {
			b.Skip("no GrantStore")
		}
		now := e.now()
		gid := id("grant")
		if err := e.Grants.CreateGrant(e.ctx, grantRecord(gid, now)); err != nil {
			b.Fatal(err)
		}
		rec := codeRecord(gid, now)
		prefix := digest()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			d := prefix + strconv.Itoa(i)
			if err := e.Grants.SaveCode(e.ctx, d, rec); err != nil {
				b.Fatal(err)
			}
			if _, err := e.Grants.ConsumeCode(e.ctx, d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RedeemCode", func(b *testing.B) {
		e := benchEnv(b, newStores)
		if e.Grants == nil {
			b.Skip("no GrantStore")
		}
		now := e.now()
		gid := id("grant")
		if err := e.Grants.CreateGrant(e.ctx, grantRecord(gid, now)); err != nil {
			b.Fatal(err)
		}
		rec := codeRecord(gid, now)
		prefix := digest()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			d := prefix + strconv.Itoa(i)
			if err := e.Grants.SaveCode(e.ctx, d, rec); err != nil {
				b.Fatal(err)
			}
			if _, err := e.Grants.GetCode(e.ctx, d); err != nil {
				b.Fatal(err)
			}
			red := &store.Redemption{RefreshDigest: d, Refresh: refreshRecord(gid, now, i)}
			if _, err := e.Grants.RedeemCode(e.ctx, d, red); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RotateRefresh", func(b *testing.B) {
		e := benchEnv(b, newStores)
		if e.Grants == nil {
			b.Skip("no GrantStore")
		}
		now := e.now()
		gid := id("grant")
		if err := e.Grants.CreateGrant(e.ctx, grantRecord(gid, now)); err != nil {
			b.Fatal(err)
		}
		rec := refreshRecord(gid, now, 0)
		prefix := digest()
		cur := prefix + "start"
		if err := e.Grants.SaveRefresh(e.ctx, cur, rec); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			next := prefix + strconv.Itoa(i)
			if _, err := e.Grants.RotateRefresh(e.ctx, cur, next, rec, 0); err != nil {
				b.Fatal(err)
			}
			cur = next
		}
	})
	b.Run("GetClient", func(b *testing.B) {
		e := benchEnv(b, newStores)
		if e.Clients == nil {
			b.Skip("no ClientStore")
		}
		cid := id("client")
		if err := e.Clients.SetClient(e.ctx, fullClient(cid, e.now())); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Clients.GetClient(e.ctx, cid); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SetClient", func(b *testing.B) {
		e := benchEnv(b, newStores)
		if e.Clients == nil {
			b.Skip("no ClientStore")
		}
		// Registration is what writes clients: a new id each op.
		c := fullClient("", e.now())
		prefix := id("client")
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			c.ID = prefix + strconv.Itoa(i)
			if err := e.Clients.SetClient(e.ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchEnv gets fresh stores for one benchmark.
func benchEnv(b *testing.B, newStores func(tb testing.TB) Stores) env {
	return env{Stores: newStores(b), ctx: b.Context()}
}
