package postgres

import (
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

// TestRevocationFeedAcrossReplicasP99: two replicas on one PostgreSQL
// schema behind one issuer; a remote verifier follows replica B's feed.
// Each of 50 trials revokes a token (cached by the verifier) on replica A
// and measures the time from A's /revoke answer until the verifier
// refuses it; the p99 must be under 1 s. B learns of A's revocation by
// LISTEN/NOTIFY.
func TestRevocationFeedAcrossReplicasP99(t *testing.T) {
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	const redirect, secret, trials = "http://127.0.0.1/cb", "rs-secret-0123456789abcdef", 50
	// Both replicas answer for one issuer; each has its own listener.
	var issuer string
	var urls [2]string
	for i := range urls {
		ts := httptest.NewUnstartedServer(nil)
		st := openSchema(t, dsn, schema)
		if i == 0 {
			issuer = "http://" + ts.Listener.Addr().String()
		}
		srv, err := mcpauth.NewServer(mcpauth.Config{
			Issuer: issuer, Scopes: []string{"read"}, Authenticator: mcpauthtest.AutoApprove("alice"),
			StaticClients: []store.Client{
				{ID: "cli", ClientMetadata: store.ClientMetadata{Name: "CLI", RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none"}},
				{ID: "rs", ClientSecret: secret, ClientMetadata: store.ClientMetadata{Name: "RS", RedirectURIs: []string{redirect}}},
			},
			Introspectors: []string{"rs"},
			Clients:       st, Grants: st, Keys: st, RateLimits: &limits.RateLimits{Disabled: true},
			Logger: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		ts.Config.Handler = srv
		ts.Start()
		t.Cleanup(func() { srv.Close(); ts.Close() })
		urls[i] = ts.URL
	}
	a, b := urls[0], urls[1]
	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{
		Issuer: issuer, Audience: issuer,
		JWKSURL: b + "/.well-known/jwks.json", FeedURL: b + mcpauth.RevocationFeedPath,
		FeedClientID: "rs", FeedClientSecret: secret, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for deadline := time.Now().Add(10 * time.Second); !v.RevocationFeedStatus().Connected; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("feed never connected: %+v", v.RevocationFeedStatus())
		}
	}
	var lat []time.Duration
	for i := range trials {
		access, refresh := mcpauthtest.Tokens(t, a, "cli", redirect, "")
		if _, err := v.Verify(t.Context(), access); err != nil {
			t.Fatalf("trial %d: Verify before revocation: %v", i, err)
		}
		tok := access
		if i%2 == 1 {
			tok = refresh // the grant: its access token must go too
		}
		mcpauthtest.Revoke(t, a, "cli", tok)
		answered := time.Now()
		for {
			_, err := v.Verify(t.Context(), access)
			if errors.Is(err, mcpauth.ErrInvalidToken) {
				break
			}
			if err != nil {
				t.Fatalf("trial %d: %v", i, err)
			}
			if time.Since(answered) > 10*time.Second {
				t.Fatalf("trial %d: revoked token still accepted after 10 s", i)
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(answered))
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	t.Logf("revoke on replica A → refused at a verifier on replica B, %d trials: p50 %v, p99 %v, max %v",
		trials, p(0.50), p(0.99), lat[len(lat)-1])
	if p(0.99) >= time.Second {
		t.Errorf("p99 %v, want under 1 s", p(0.99))
	}
}
