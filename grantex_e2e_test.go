package mcpauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/grantex"
	"github.com/mcpauth/mcpauth/grantex/grantextest"
	"github.com/mcpauth/mcpauth/store"
)

const managedRedirect = "http://127.0.0.1:9998/callback"

// managedFixture is our server in managed mode in front of a Grantex.
type managedFixture struct {
	srv      *mcpauth.Server
	ts       *httptest.Server
	conf     *oauth2.Config
	resource string
}

func newManagedFixture(t *testing.T, gx mcpauth.GrantexClient, agentID, grantexIssuer string) *managedFixture {
	t.Helper()
	srv, ts := e2eServer(t, func(c *mcpauth.Config) {
		c.Grantex = mcpauth.GrantexConfig{Client: gx, AgentID: agentID, Issuer: grantexIssuer}
		c.StaticClients = []store.Client{
			{ID: "mcp-client", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{managedRedirect}}},
			{ID: "resource-server", ClientSecret: "rs-secret", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{"https://rs.example/cb"}}},
		}
		c.Introspectors = []string{"resource-server"}
	})
	return &managedFixture{srv: srv, ts: ts, resource: ts.URL + "/mcp", conf: &oauth2.Config{
		ClientID: "mcp-client", RedirectURL: managedRedirect, Scopes: []string{"tools:read", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.URL + "/authorize", TokenURL: ts.URL + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}}
}

// login runs the browser through our login page up to Grantex's consent
// page (or, when Grantex approves at once, back to the client).
func (f *managedFixture) login(t *testing.T, verifier string) (*e2eBrowser, string) {
	t.Helper()
	br := newE2EBrowser(t, managedRedirect)
	page := br.get(f.conf.AuthCodeURL("st8", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", f.resource)))
	if !strings.Contains(page, `name="password"`) {
		t.Fatalf("expected our login page, got %.300s", page)
	}
	return br, br.submit(page, f.ts.URL+"/login", url.Values{"username": {"alice"}, "password": {"correct horse"}})
}

func (f *managedFixture) exchange(t *testing.T, br *e2eBrowser, verifier string) *oauth2.Token {
	t.Helper()
	if br.callback == nil || br.callback.Query().Get("code") == "" || br.callback.Query().Get("iss") != f.ts.URL {
		t.Fatalf("the client got no code with iss: %v", br.callback)
	}
	tok, err := f.conf.Exchange(context.Background(), br.callback.Query().Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", f.resource))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// mcpStatus calls a RequireMCPAuth-protected handler with the token.
func (f *managedFixture) mcpStatus(t *testing.T, token string) int {
	t.Helper()
	h := mcpauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Local: f.srv, Audience: f.resource}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if g, ok := mcpauth.GrantFromContext(r.Context()); !ok || g.Subject != "alice" {
				t.Errorf("grant in context: %+v", g)
			}
		}))
	req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func (f *managedFixture) introspectActive(t *testing.T, token string) bool {
	t.Helper()
	_, m := postForm(t, f.ts.URL+"/introspect", url.Values{"token": {token}}, "resource-server", "rs-secret")
	return m["active"] == true
}

func TestManagedConsentApprove(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{})
	t.Cleanup(gx.Close)
	client, err := gx.NewClient(grantextest.DefaultAPIKey, grantextest.DefaultAgentID)
	if err != nil {
		t.Fatal(err)
	}
	f := newManagedFixture(t, client, grantextest.DefaultAgentID, gx.Issuer())
	verifier := oauth2.GenerateVerifier()
	br, consent := f.login(t, verifier)
	if !strings.Contains(consent, "Approve") || !strings.Contains(consent, "tools:read") {
		t.Fatalf("expected Grantex's consent page, got %.300s", consent)
	}
	br.submit(consent, gx.URL+"/consent/approve", nil)
	tok := f.exchange(t, br, verifier)
	if tok.RefreshToken == "" || strings.HasPrefix(tok.RefreshToken, "ref_") {
		t.Fatalf("the client must get our own refresh token, got %q", tok.RefreshToken)
	}
	if got := f.mcpStatus(t, tok.AccessToken); got != http.StatusOK {
		t.Fatalf("middleware rejected a live Grantex token: %d", got)
	}
	if !f.introspectActive(t, tok.AccessToken) {
		t.Fatal("introspection: a live token is inactive")
	}

	// Refresh rotates ours and Grantex's; reusing the old one ends the grant.
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Hour)
	tok2, err := f.conf.TokenSource(context.Background(), &stale).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.RefreshToken == tok.RefreshToken || tok2.AccessToken == tok.AccessToken {
		t.Fatal("refresh did not rotate")
	}
	stale.Expiry = time.Now().Add(-time.Hour)
	if _, err := f.conf.TokenSource(context.Background(), &stale).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("refresh token reuse: %v, want invalid_grant", err)
	}
	if f.introspectActive(t, tok2.AccessToken) || f.mcpStatus(t, tok2.AccessToken) != http.StatusUnauthorized {
		t.Fatal("after refresh reuse the grant's access token still works")
	}
	if n := gx.Requests("/v1/token"); n != 1 {
		t.Fatalf("Grantex /v1/token called %d times, want 1", n)
	}
}

func TestManagedRevoke(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{})
	t.Cleanup(gx.Close)
	client, _ := gx.NewClient(grantextest.DefaultAPIKey, grantextest.DefaultAgentID)
	f := newManagedFixture(t, client, grantextest.DefaultAgentID, gx.Issuer())
	verifier := oauth2.GenerateVerifier()
	br, consent := f.login(t, verifier)
	br.submit(consent, gx.URL+"/consent/approve", nil)
	tok := f.exchange(t, br, verifier)
	if f.mcpStatus(t, tok.AccessToken) != http.StatusOK || !f.introspectActive(t, tok.AccessToken) {
		t.Fatal("a live token is rejected")
	}
	if code, _ := postForm(t, f.ts.URL+"/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {"mcp-client"}}, "", ""); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	if f.introspectActive(t, tok.AccessToken) {
		t.Fatal("introspection: a revoked token is active")
	}
	if got := f.mcpStatus(t, tok.AccessToken); got != http.StatusUnauthorized {
		t.Fatalf("middleware accepted a revoked token: %d", got)
	}
	if v, err := client.VerifyToken(context.Background(), tok.AccessToken); err != nil || v.Valid {
		t.Fatalf("Grantex still considers the revoked token valid: %+v, %v", v, err)
	}

	// Revoking the refresh token ends the grant here and at Grantex.
	verifier = oauth2.GenerateVerifier()
	br, consent = f.login(t, verifier)
	br.submit(consent, gx.URL+"/consent/approve", nil)
	tok = f.exchange(t, br, verifier)
	if code, _ := postForm(t, f.ts.URL+"/revoke", url.Values{"token": {tok.RefreshToken}, "client_id": {"mcp-client"}}, "", ""); code != http.StatusOK {
		t.Fatalf("revoke refresh: %d", code)
	}
	if f.introspectActive(t, tok.AccessToken) || f.mcpStatus(t, tok.AccessToken) != http.StatusUnauthorized {
		t.Fatal("the grant's access token survived revoking its refresh token")
	}
	if v, err := client.VerifyToken(context.Background(), tok.AccessToken); err != nil || v.Valid {
		t.Fatalf("the Grantex grant survived revoking the refresh token: %+v, %v", v, err)
	}
	if _, err := f.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Fatal("a revoked refresh token still refreshes")
	}
}

func TestManagedConsentDeny(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{})
	t.Cleanup(gx.Close)
	client, _ := gx.NewClient(grantextest.DefaultAPIKey, grantextest.DefaultAgentID)
	f := newManagedFixture(t, client, grantextest.DefaultAgentID, gx.Issuer())
	br, consent := f.login(t, oauth2.GenerateVerifier())
	br.submit(consent, gx.URL+"/consent/deny", nil)
	q := br.callback.Query()
	if q.Get("error") != "access_denied" || q.Get("state") != "st8" || q.Get("iss") != f.ts.URL || q.Get("code") != "" {
		t.Fatalf("deny: client got %v", br.callback)
	}
}

func TestManagedSandboxAutoApprove(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{})
	t.Cleanup(gx.Close)
	client, _ := gx.NewClient(grantextest.SandboxAPIKey, grantextest.DefaultAgentID)
	f := newManagedFixture(t, client, grantextest.DefaultAgentID, gx.Issuer())
	verifier := oauth2.GenerateVerifier()
	br, _ := f.login(t, verifier)
	if gx.Requests("/consent") != 0 {
		t.Fatal("sandbox approval should skip the consent page")
	}
	tok := f.exchange(t, br, verifier)
	if f.mcpStatus(t, tok.AccessToken) != http.StatusOK {
		t.Fatal("sandbox token rejected")
	}
}

// TestManagedGrantexFailures: Grantex down, hanging or rate limiting
// mid-flow gives clean OAuth errors and leaves nothing half-created.
func TestManagedGrantexFailures(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{})
	t.Cleanup(gx.Close)
	client, _ := gx.NewClient(grantextest.DefaultAPIKey, grantextest.DefaultAgentID,
		grantex.WithMaxAttempts(1), grantex.WithAttemptTimeout(300*time.Millisecond))
	f := newManagedFixture(t, client, grantextest.DefaultAgentID, gx.Issuer())

	authorizeFails := []struct {
		name  string
		fault grantextest.Fault
		want  string
	}{
		{"down", grantextest.Fault{Status: 503}, "temporarily_unavailable"},
		{"rate limited", grantextest.Fault{Status: 429, Code: "RATE_LIMITED", RetryAfter: 30 * time.Second}, "temporarily_unavailable"},
		{"hangs", grantextest.Fault{Hang: true}, "temporarily_unavailable"},
		{"internal error", grantextest.Fault{Status: 500}, "server_error"},
		{"policy denied", grantextest.Fault{Status: 403, Code: "POLICY_DENIED"}, "access_denied"},
	}
	for _, tc := range authorizeFails {
		t.Run("authorize/"+tc.name, func(t *testing.T) {
			gx.Inject("/v1/authorize", 1, tc.fault)
			br, _ := f.login(t, oauth2.GenerateVerifier())
			if br.callback == nil || br.callback.Query().Get("error") != tc.want || br.callback.Query().Get("iss") != f.ts.URL {
				t.Fatalf("client got %v, want error=%s with iss", br.callback, tc.want)
			}
			if d := br.callback.Query().Get("error_description"); strings.Contains(d, "grantex:") {
				t.Fatalf("upstream detail leaked to the client: %q", d)
			}
		})
	}

	t.Run("token/bad gateway", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		br, consent := f.login(t, verifier)
		br.submit(consent, gx.URL+"/consent/approve", nil)
		gx.FailNext("/v1/token", http.StatusBadGateway)
		code, body := postForm(t, f.ts.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"mcp-client"},
			"code": {br.callback.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {managedRedirect}}, "", "")
		if code != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" {
			t.Fatalf("token with Grantex down: %d %v", code, body)
		}
	})
}

// TestManagedRealGrantex runs the flow against a real Grantex deployment.
func TestManagedRealGrantex(t *testing.T) {
	base, key, agent := os.Getenv("GRANTEX_BASE_URL"), os.Getenv("GRANTEX_API_KEY"), os.Getenv("GRANTEX_AGENT_ID")
	if base == "" || key == "" || agent == "" {
		t.Skip("skipped: set GRANTEX_BASE_URL, GRANTEX_API_KEY and GRANTEX_AGENT_ID to run against a real Grantex")
	}
	client, err := grantex.New(base, key, agent)
	if err != nil {
		t.Fatal(err)
	}
	f := newManagedFixture(t, client, agent, os.Getenv("GRANTEX_ISSUER"))
	verifier := oauth2.GenerateVerifier()
	br, consent := f.login(t, verifier)
	if br.callback == nil {
		// A live developer account: Grantex's consent page needs a person
		// (or its public approve API, contract §1.3).
		t.Logf("Grantex consent page reached (%d bytes); approving through its API is account-specific", len(consent))
		t.Skip("skipped: the Grantex account is not in sandbox mode, so consent needs a person")
	}
	tok := f.exchange(t, br, verifier)
	if f.mcpStatus(t, tok.AccessToken) != http.StatusOK {
		t.Fatal("middleware rejected the real Grantex token")
	}
}

// TestManagedOnlyRoutes: /callback, the way back from Grantex's consent
// page, exists in managed mode only (405 for a wrong method, a 4xx page for
// a bad query), and our consent form cannot approve there: consent is
// Grantex's.
func TestManagedOnlyRoutes(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{})
	t.Cleanup(gx.Close)
	client, err := gx.NewClient(grantextest.DefaultAPIKey, grantextest.DefaultAgentID)
	if err != nil {
		t.Fatal(err)
	}
	f := newManagedFixture(t, client, grantextest.DefaultAgentID, gx.Issuer())
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/callback", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
		t.Errorf("POST /callback: %d, Allow %q; want 405, GET", resp.StatusCode, resp.Header.Get("Allow"))
	}
	req, _ = http.NewRequest(http.MethodGet, f.ts.URL+"/callback?state=%zz", nil)
	req.Header.Set("Accept", "text/html")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 || resp.Header.Get("Location") != "" {
		t.Errorf("GET /callback with a bad query: (%d, %q), want a 4xx page", resp.StatusCode, resp.Header.Get("Location"))
	}
}
