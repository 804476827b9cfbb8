package storetest

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// ScaleClient is the client the scale benchmarks bulk-load and register.
func ScaleClient(id string) *store.Client {
	return &store.Client{
		ID:             id,
		SecretDigest:   bytes.Repeat([]byte{7}, 32),
		IssuedAt:       time.Now(),
		ClientMetadata: store.ClientMetadata{RedirectURIs: []string{"https://app.example.com/callback"}, GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "client_secret_basic", Name: "Bench client"},
	}
}

// ScaleClientID is the id of the i-th bulk-loaded client.
func ScaleClientID(i int) string { return "bulk-" + strconv.Itoa(i) }

// RunClientScaleBenchmarks measures GetClient and RegisterClient on a store
// that already holds n clients with ids ScaleClientID(0..n-1) (the caller
// loads them the fastest way its database allows), so the latency can be
// compared with that on an empty store. Both assert success.
func RunClientScaleBenchmarks(b *testing.B, s store.ClientStore, n int) {
	b.Run("GetClient", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			id := ScaleClientID((i * 7919) % n) // spread over the whole table
			got, err := s.GetClient(b.Context(), id)
			if err != nil || got.ID != id {
				b.Fatalf("GetClient(%s) = %v, %v", id, got, err)
			}
		}
	})
	b.Run("RegisterClient", func(b *testing.B) {
		c := ScaleClient("")
		prefix := "new-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			c.ID = prefix + strconv.Itoa(i)
			if err := s.SetClient(b.Context(), c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
