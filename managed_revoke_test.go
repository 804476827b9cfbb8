package mcpauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/grantex"
	"github.com/mcpauth/mcpauth/grantex/grantextest"
)

// longLivedMCP is one RequireMCPAuth-protected server for a whole test, so
// its verified-token cache stays warm between calls, as in production.
func longLivedMCP(t *testing.T, f *managedFixture) func(token string) int {
	t.Helper()
	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{Local: f.srv, Audience: f.resource})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	ts := httptest.NewServer(mcpauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Audience: f.resource}, Verifier: v})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	t.Cleanup(ts.Close)
	return func(token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ts.URL, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
}

// TestManagedRevokedGrantDropsCachedTokens: revoking a managed grant (its
// refresh token) stops its access token at a middleware whose cache holds
// it, at once: the cache is dropped by the grant id the token carries
// (Grantex's grnt), not only by ours.
func TestManagedRevokedGrantDropsCachedTokens(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{})
	t.Cleanup(gx.Close)
	client, _ := gx.NewClient(grantextest.SandboxAPIKey, grantextest.DefaultAgentID)
	f := managedScopesFixture(t, client, nil)
	mcp := longLivedMCP(t, f)
	verifier := oauth2.GenerateVerifier()
	tok := f.exchange(t, f.loginScope(t, verifier, "tools:read offline_access"), verifier)
	for range 2 { // the second call is served from the cache
		if got := mcp(tok.AccessToken); got != http.StatusOK {
			t.Fatalf("a live token: %d", got)
		}
	}
	if code, _ := postForm(t, f.ts.URL+"/revoke", url.Values{"token": {tok.RefreshToken}, "client_id": {"mcp-client"}}, "", ""); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	if got := mcp(tok.AccessToken); got != http.StatusUnauthorized {
		t.Fatalf("the same middleware accepted a token of a revoked grant: %d", got)
	}
}

// TestManagedRevokeOnlyOwnTokens: Grantex tokens carry no client_id; the
// owner is found through the grant, and a client that does not own the
// token (or a token whose owner is unknown) revokes nothing, with the 200
// RFC 7009 answers for tokens the client cannot act on.
func TestManagedRevokeOnlyOwnTokens(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{})
	t.Cleanup(gx.Close)
	client, _ := gx.NewClient(grantextest.SandboxAPIKey, grantextest.DefaultAgentID)
	f := managedScopesFixture(t, client, nil)
	mcp := longLivedMCP(t, f)
	verifier := oauth2.GenerateVerifier()
	tok := f.exchange(t, f.loginScope(t, verifier, "tools:read"), verifier)

	// A token minted at Grantex directly, never through this server.
	gxVerifier := oauth2.GenerateVerifier()
	ar, err := client.Authorize(context.Background(), grantex.AuthorizeParams{
		AgentID: grantextest.DefaultAgentID, PrincipalID: "alice", Scopes: []string{"tools:read"},
		RedirectURI: "https://elsewhere.example/cb", State: "x", Audience: f.resource,
		CodeChallenge: oauth2.S256ChallengeFromVerifier(gxVerifier), CodeChallengeMethod: "S256",
	})
	if err != nil || ar.Code == "" {
		t.Fatalf("sandbox authorize: %+v, %v", ar, err)
	}
	foreign, err := client.ExchangeCode(context.Background(), ar.Code, gxVerifier)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, token, clientID string
	}{
		{"another client's token", tok.AccessToken, "other-client"},
		{"a token of no known client", foreign.GrantToken, "mcp-client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := postForm(t, f.ts.URL+"/revoke", url.Values{"token": {tt.token}, "client_id": {tt.clientID}}, "", "")
			if code != http.StatusOK {
				t.Fatalf("revoke: %d %v", code, body)
			}
			if v, err := client.VerifyToken(context.Background(), tt.token); err != nil || !v.Valid {
				t.Fatalf("the token was revoked at Grantex: %+v, %v", v, err)
			}
		})
	}
	if got := mcp(tok.AccessToken); got != http.StatusOK || !f.introspectActive(t, tok.AccessToken) {
		t.Fatalf("another client revoked the token: middleware %d", got)
	}
	// The owner can.
	if code, _ := postForm(t, f.ts.URL+"/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {"mcp-client"}}, "", ""); code != http.StatusOK {
		t.Fatalf("owner revoke: %d", code)
	}
	if got := mcp(tok.AccessToken); got != http.StatusUnauthorized || f.introspectActive(t, tok.AccessToken) {
		t.Fatalf("the owner's revocation did not take: middleware %d", got)
	}
}
