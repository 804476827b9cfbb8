package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/examples/routers/internal/flowtest"
	"github.com/mcpauth/mcpauth/mcpauthtest"
)

// TestLoginThroughChi runs a full login through the chi router.
func TestLoginThroughChi(t *testing.T) {
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer ts.Close()
	h, closeFn, err := newHandler(mcpauth.Config{Issuer: ts.URL, Authenticator: mcpauthtest.AutoApprove("example-user")})
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	flowtest.Login(t, ts.URL)
}
