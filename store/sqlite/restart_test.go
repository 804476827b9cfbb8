package sqlite

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/mcpauthtest"
)

// TestServerRestart restarts a Server on the same SQLite file mid-test: the
// client it registered, the grant, the refresh token and the signing key all
// survive, so a token issued before the restart still verifies and its
// refresh still works.
func TestServerRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcpauth.db")
	const issuer, redirect = "http://127.0.0.1:8080", "http://127.0.0.1/cb"
	start := func() (*mcpauth.Server, *Store) {
		st, err := Open(t.Context(), path, WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		srv, err := mcpauth.NewServer(mcpauth.Config{
			Issuer: issuer, Scopes: []string{"read"}, Authenticator: mcpauthtest.AutoApprove("alice"),
			Clients: st, Grants: st, Keys: st, RateLimits: &limits.RateLimits{Disabled: true},
			Logger: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		return srv, st
	}
	call := func(srv *mcpauth.Server, req *http.Request) (*httptest.ResponseRecorder, map[string]any) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		return rec, body
	}
	form := func(path string, v url.Values) *http.Request {
		req := httptest.NewRequest(http.MethodPost, issuer+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}

	srv, st := start()
	reg := httptest.NewRequest(http.MethodPost, issuer+"/register", strings.NewReader(
		`{"redirect_uris":["`+redirect+`"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`))
	reg.Header.Set("Content-Type", "application/json")
	rec, body := call(srv, reg)
	clientID, _ := body["client_id"].(string)
	if rec.Code != http.StatusCreated || clientID == "" {
		t.Fatalf("register: %d %v", rec.Code, body)
	}
	verifier := strings.Repeat("v", 43)
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"code_challenge": {mcpauth.S256Challenge(verifier)}, "code_challenge_method": {"S256"}}
	rec, _ = call(srv, httptest.NewRequest(http.MethodGet, issuer+"/authorize?"+q.Encode(), nil))
	loc, _ := url.Parse(rec.Header().Get("Location"))
	rec, body = call(srv, form("/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID},
		"code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {redirect}}))
	access, _ := body["access_token"].(string)
	refresh, _ := body["refresh_token"].(string)
	if rec.Code != http.StatusOK || access == "" || refresh == "" {
		t.Fatalf("token: %d %v", rec.Code, body)
	}

	// Restart: close everything, open the same file.
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	srv, st = start()
	defer st.Close()
	defer srv.Close()

	if g, err := srv.VerifyAccessToken(t.Context(), access); err != nil || g.Subject != "alice" || g.ClientID != clientID {
		t.Fatalf("a token issued before the restart: %+v, %v", g, err)
	}
	rec, body = call(srv, form("/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {refresh}}))
	if rec.Code != http.StatusOK || body["refresh_token"] == refresh || body["access_token"] == nil {
		t.Fatalf("refresh after the restart: %d %v", rec.Code, body)
	}
	// The registered client still authorizes.
	rec, _ = call(srv, httptest.NewRequest(http.MethodGet, issuer+"/authorize?"+q.Encode(), nil))
	if loc, _ := url.Parse(rec.Header().Get("Location")); rec.Code != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("the registered client after the restart: %d %s", rec.Code, rec.Header().Get("Location"))
	}
}
