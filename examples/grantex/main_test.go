package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/grantex/grantextest"
)

// TestManagedExample: the example serves metadata pointing at Grantex's keys
// and challenges unauthenticated MCP calls.
func TestManagedExample(t *testing.T) {
	fake := grantextest.NewServer(grantextest.Options{})
	defer fake.Close()
	gx, err := fake.NewClient(grantextest.DefaultAPIKey, grantextest.DefaultAgentID)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer ts.Close()
	handler, as, err := newHandler(ts.URL, gx, grantextest.DefaultAgentID, fake.Issuer(), "pw", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	h = handler

	resp, err := http.Get(ts.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta.JWKSURI != gx.JWKSURL() {
		t.Fatalf("jwks_uri %q, want Grantex's %q", meta.JWKSURI, gx.JWKSURL())
	}
	resp, err = http.Post(ts.URL+"/mcp", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Fatalf("unauthenticated MCP call: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
