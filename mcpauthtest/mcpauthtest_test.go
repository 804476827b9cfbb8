package mcpauthtest_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

// TestAutoApproveLoopbackOnly: on a loopback host /authorize answers with
// the code at once; addressed by any other name the same server finds
// nobody signed in and approves nothing (no code, and sign-in refused).
func TestAutoApproveLoopbackOnly(t *testing.T) {
	const redirect = "http://127.0.0.1:9/cb"
	srv, err := mcpauth.NewServer(mcpauth.Config{
		Issuer: "http://127.0.0.1:8080", Scopes: []string{"read"},
		Authenticator: mcpauthtest.AutoApprove("alice"),
		StaticClients: []store.Client{{ID: "app", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none"}}},
		RateLimits:    &limits.RateLimits{Disabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	q := url.Values{"client_id": {"app"}, "redirect_uri": {redirect}, "response_type": {"code"}, "state": {"s"},
		"code_challenge": {mcpauth.S256Challenge("0123456789012345678901234567890123456789abc")}, "code_challenge_method": {"S256"}}
	tests := []struct {
		host     string
		wantCode bool
	}{
		{"127.0.0.1:8080", true},
		{"localhost:8080", true},
		{"[::1]:8080", true},
		{"auth.example.com", false},
		{"10.0.0.1:8080", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/authorize?"+q.Encode(), nil)
		r.Host = tt.host
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		loc, _ := url.Parse(w.Header().Get("Location"))
		gotCode := w.Code == http.StatusFound && loc != nil && loc.Query().Get("code") != ""
		if gotCode != tt.wantCode {
			t.Errorf("Host %s: status %d, Location %q; want a code: %v", tt.host, w.Code, w.Header().Get("Location"), tt.wantCode)
		}
		if tt.wantCode {
			continue
		}
		// Following on to the consent step: nobody is signed in, and the
		// sign-in is refused.
		r = httptest.NewRequest(http.MethodGet, loc.String(), nil)
		r.Host = tt.host
		w = httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden {
			t.Errorf("Host %s: consent step %d, want 403", tt.host, w.Code)
		}
	}
}
