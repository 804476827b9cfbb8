package sqlite

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

// TestRevocationFeedSurvivesRestart: a revocation made while a remote
// verifier is cut off, by a server that then restarts on the same SQLite
// file, reaches the verifier when it reconnects: the feed is in the
// store, and the verifier resumes from its last event id.
func TestRevocationFeedSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcpauth.db")
	const redirect, secret = "http://127.0.0.1/cb", "rs-secret-0123456789abcdef"
	var current atomic.Pointer[mcpauth.Server]
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv := current.Load()
		if srv == nil {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	defer as.Close()
	issuer := as.URL
	start := func() (*mcpauth.Server, *Store) {
		st, err := Open(t.Context(), path, WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
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
		current.Store(srv)
		return srv, st
	}
	// The verifier reaches the feed through a gate that can cut it off.
	var gateMu sync.Mutex
	gateOpen := true
	gateCtx, gateCancel := context.WithCancel(context.Background())
	setGate := func(open bool) {
		gateMu.Lock()
		defer gateMu.Unlock()
		gateCancel()
		gateOpen = open
		gateCtx, gateCancel = context.WithCancel(context.Background())
	}
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gateMu.Lock()
		open, gctx := gateOpen, gateCtx
		gateMu.Unlock()
		srv := current.Load()
		if !open || srv == nil {
			http.Error(w, "partitioned", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(gctx, cancel)()
		srv.ServeHTTP(w, r.WithContext(ctx))
	}))
	defer func() { setGate(false); gate.Close() }()

	srv, st := start()
	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{Issuer: issuer, Audience: issuer,
		FeedURL: gate.URL + mcpauth.RevocationFeedPath, FeedClientID: "rs", FeedClientSecret: secret, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting: %s", what)
			}
		}
	}
	refused := func(tok string) func() bool {
		return func() bool { _, err := v.Verify(t.Context(), tok); return errors.Is(err, mcpauth.ErrInvalidToken) }
	}
	wait("feed connected", func() bool { return v.RevocationFeedStatus().Connected })
	first, _ := mcpauthtest.Tokens(t, issuer, "cli", redirect, "")
	second, _ := mcpauthtest.Tokens(t, issuer, "cli", redirect, "")
	mcpauthtest.Revoke(t, issuer, "cli", first)
	wait("first revocation applied", refused(first))
	if _, err := v.Verify(t.Context(), second); err != nil {
		t.Fatalf("second token: %v", err)
	}

	setGate(false)
	wait("feed down", func() bool { return !v.RevocationFeedStatus().Connected })
	mcpauthtest.Revoke(t, issuer, "cli", second)
	current.Store(nil)
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), second); err != nil {
		t.Fatalf("fail-open verifier while cut off: %v", err)
	}

	srv, st = start()
	defer st.Close()
	defer srv.Close()
	setGate(true)
	wait("feed reconnected", func() bool { return v.RevocationFeedStatus().Connected })
	if _, err := v.Verify(t.Context(), second); !errors.Is(err, mcpauth.ErrInvalidToken) {
		t.Fatalf("token revoked before the restart: %v, want refused", err)
	}
	if id := v.RevocationFeedStatus().LastEventID; id != 2 {
		t.Errorf("last event id %d, want 2", id)
	}
}
