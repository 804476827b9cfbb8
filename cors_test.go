package mcpauth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
)

// TestMCPCORS: behind RequireMCPAuth alone a browser's preflight gets 401;
// with MCPCORS outside it the preflight gets 204 with the allowed methods
// and headers, and the 401 challenge of a real request is readable.
func TestMCPCORS(t *testing.T) {
	e := newEnv(t)
	requireAuth := mcpauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{
		VerifierOptions: mcpauth.VerifierOptions{Local: e.srv, Audience: resourceA},
	})
	mcp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	bare := requireAuth(mcp)
	withCORS := mcpauth.MCPCORS(requireAuth(mcp))
	preflight := func() *http.Request {
		r := httptest.NewRequest(http.MethodOptions, resourceA, nil)
		r.Header.Set("Origin", "https://inspector.example")
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "authorization, content-type, mcp-protocol-version")
		return r
	}
	rec := httptest.NewRecorder()
	bare.ServeHTTP(rec, preflight())
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("preflight without MCPCORS: %d, want the 401 MCPCORS exists for", rec.Code)
	}

	rec = httptest.NewRecorder()
	withCORS.ServeHTTP(rec, preflight())
	h := rec.Header()
	if rec.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Mcp-Protocol-Version") {
		t.Fatalf("preflight with MCPCORS: %d %v", rec.Code, h)
	}

	r := httptest.NewRequest(http.MethodPost, resourceA, strings.NewReader("{}"))
	r.Header.Set("Origin", "https://inspector.example")
	rec = httptest.NewRecorder()
	withCORS.ServeHTTP(rec, r)
	h = rec.Header()
	if rec.Code != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
		t.Fatalf("request without a token: %d %v", rec.Code, h)
	}

	// Same-origin and native callers send no Origin: no CORS headers.
	rec = httptest.NewRecorder()
	withCORS.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, resourceA, nil))
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS headers without an Origin: %v", rec.Header())
	}
}
