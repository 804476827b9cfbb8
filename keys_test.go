package mcpauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/internal/signing"
	"github.com/mcpauth/mcpauth/store"
)

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newKeyTestServer(t *testing.T, clock *fakeClock, keys store.KeyStore) *Server {
	t.Helper()
	s, err := NewServer(Config{
		Issuer: "http://127.0.0.1:8080", Scopes: []string{"a"}, Authenticator: testAutoApprove("alice"),
		Keys: keys, Now: clock.Now, AccessTokenTTL: time.Hour, KeyRotationPeriod: 24 * time.Hour, KeyRefreshInterval: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func jwksKids(t *testing.T, s *Server) map[string]bool {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatal("the JWKS published a private key")
		}
		kids[k.Kid] = true
	}
	return kids
}

func signingKid(t *testing.T, s *Server) string {
	t.Helper()
	k, err := s.keys.Signer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return k.ID
}

// TestKeyRotation: a new key is published before it signs, and the old key
// stays published until the last token it signed has expired.
func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newKeyTestServer(t, clock, store.NewMemoryKeyStore())
	first := signingKid(t, s)
	_, _, _, err := s.signAccessToken(ctx, "c", "alice", "g", "aud", []string{"a"})
	if err != nil {
		t.Fatal(err)
	}

	clock.Advance(24*time.Hour + time.Minute) // rotation due; cache stale
	kids := jwksKids(t, s)
	if len(kids) != 2 || !kids[first] {
		t.Fatalf("after rotation the JWKS should hold the old and the new key, got %v", kids)
	}
	if got := signingKid(t, s); got != first {
		t.Fatalf("the new key signs before its publication delay: %s", got)
	}

	clock.Advance(time.Minute + signing.JWKSMaxAge + time.Second)
	second := signingKid(t, s)
	if second == first {
		t.Fatal("the new key never started signing")
	}
	fresh, _, _, err := s.signAccessToken(ctx, "c", "alice", "g", "aud", []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.verifyLocalToken(ctx, fresh); err != nil {
		t.Fatalf("token signed by the new key: %v", err)
	}
	if !jwksKids(t, s)[first] {
		t.Fatal("the old key left the JWKS before its tokens expired")
	}

	clock.Advance(time.Hour + 3*time.Minute) // past the old key's last token
	kids = jwksKids(t, s)
	if kids[first] || !kids[second] || len(kids) != 1 {
		t.Fatalf("after expiry only the new key should remain, got %v", kids)
	}
}

// TestKeyRotationAcrossReplicas: a key rotated on one replica is served and
// accepted by another within KeyRefreshInterval.
func TestKeyRotationAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	shared := store.NewMemoryKeyStore()
	a := newKeyTestServer(t, clock, shared)
	b := newKeyTestServer(t, clock, shared)
	if signingKid(t, a) != signingKid(t, b) {
		t.Fatal("replicas sharing a key store should share the signing key")
	}
	if err := a.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute + signing.JWKSMaxAge + time.Second)
	newKid := signingKid(t, a)
	if !jwksKids(t, b)[newKid] {
		t.Fatal("replica b does not serve the key rotated on replica a")
	}
	tok, _, _, err := a.signAccessToken(ctx, "c", "alice", "g", "aud", []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.verifyLocalToken(ctx, tok); err != nil {
		t.Fatalf("replica b rejects a token signed on replica a: %v", err)
	}
	if signingKid(t, b) != newKid {
		t.Fatal("replica b still signs with the retired key")
	}
}
