package mcpauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/grantex"
	"github.com/mcpauth/mcpauth/grantex/grantextest"
	"github.com/mcpauth/mcpauth/store"
)

// managedScopesFixture is managed mode with an operator scope configured
// (granted only when asked for by name) and a grant policy.
func managedScopesFixture(t *testing.T, gx mcpauth.GrantexClient, policy func(context.Context, mcpauth.GrantRequest) ([]string, error)) *managedFixture {
	t.Helper()
	srv, ts := e2eServer(t, func(c *mcpauth.Config) {
		c.Grantex = mcpauth.GrantexConfig{Client: gx, AgentID: grantextest.DefaultAgentID}
		c.Scopes = []string{"tools:read", "tools:execute", "audit:read"}
		c.DefaultScopes = []string{"tools:read", "tools:execute"}
		c.GrantPolicy = policy
		c.Introspectors = []string{"resource-server"}
		c.StaticClients = []store.Client{
			{ID: "mcp-client", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{managedRedirect}}},
			{ID: "other-client", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{managedRedirect}}},
			{ID: "resource-server", ClientSecret: "rs-secret", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{"https://rs.example/cb"}}},
		}
	})
	return &managedFixture{srv: srv, ts: ts, resource: ts.URL + "/mcp", conf: &oauth2.Config{
		ClientID: "mcp-client", RedirectURL: managedRedirect,
		Endpoint: oauth2.Endpoint{AuthURL: ts.URL + "/authorize", TokenURL: ts.URL + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}}
}

// loginScope signs alice in for a request with the given scope parameter
// (sandbox Grantex approves at once) and returns the client's callback.
func (f *managedFixture) loginScope(t *testing.T, verifier, scope string) *e2eBrowser {
	t.Helper()
	br := newE2EBrowser(t, managedRedirect)
	page := br.get(f.conf.AuthCodeURL("st8", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", f.resource),
		oauth2.SetAuthURLParam("scope", scope)))
	br.submit(page, f.ts.URL+"/login", url.Values{"username": {"alice"}, "password": {"correct horse"}})
	if br.callback == nil {
		t.Fatal("the client got no callback")
	}
	return br
}

// dropAudit is the standalone server's rule for a non-operator.
func dropAudit(_ context.Context, r mcpauth.GrantRequest) ([]string, error) {
	return slices.DeleteFunc(slices.Clone(r.Scopes), func(s string) bool { return s == mcpauth.AuditReadScope }), nil
}

// TestManagedNeverWidens: managed mode grants what was asked (narrowed by
// the grant policy), never every configured scope; an empty request gets
// the configured defaults. The token's scp is what is checked.
func TestManagedNeverWidens(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{})
	t.Cleanup(gx.Close)
	client, _ := gx.NewClient(grantextest.SandboxAPIKey, grantextest.DefaultAgentID)
	denyAll := func(context.Context, mcpauth.GrantRequest) ([]string, error) {
		return nil, fmt.Errorf("suspended: %w", mcpauth.ErrAccessDenied)
	}
	tests := []struct {
		name      string
		policy    func(context.Context, mcpauth.GrantRequest) ([]string, error)
		scope     string
		wantScope string // "" means an error
		wantErr   string
	}{
		{"offline_access alone is not everything", nil, "offline_access", "", "invalid_scope"},
		{"one scope", nil, "tools:read offline_access", "tools:read", ""},
		{"empty request gets the defaults", nil, "", "tools:read tools:execute", ""},
		{"operator scope when asked and allowed", nil, "tools:read audit:read", "tools:read audit:read", ""},
		{"policy drops the operator scope", dropAudit, "tools:read audit:read offline_access", "tools:read", ""},
		{"policy leaves nothing", dropAudit, "audit:read", "", "invalid_scope"},
		{"policy denies", denyAll, "tools:read", "", "access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := managedScopesFixture(t, client, tt.policy)
			verifier := oauth2.GenerateVerifier()
			br := f.loginScope(t, verifier, tt.scope)
			q := br.callback.Query()
			if tt.wantErr != "" {
				if q.Get("error") != tt.wantErr || q.Get("code") != "" || q.Get("state") != "st8" || q.Get("iss") != f.ts.URL {
					t.Fatalf("callback %v, want error=%s with state and iss", br.callback, tt.wantErr)
				}
				return
			}
			tok := f.exchange(t, br, verifier)
			_, claims := jwtParts(t, tok.AccessToken)
			var scp []string
			for _, s := range claims["scp"].([]any) {
				scp = append(scp, s.(string))
			}
			if got := strings.Join(scp, " "); got != tt.wantScope || tok.Extra("scope") != tt.wantScope {
				t.Fatalf("token scp %q, response scope %v; want %q", got, tok.Extra("scope"), tt.wantScope)
			}
		})
	}
}

// wideningGrantex asks Grantex for more than it was told to, as a Grantex
// that widens a grant would, and records the grants issued and revoked.
type wideningGrantex struct {
	mcpauth.GrantexClient
	issued, revoked *[]string
}

func (w wideningGrantex) Authorize(ctx context.Context, p grantex.AuthorizeParams) (*grantex.AuthRequest, error) {
	p.Scopes = append(slices.Clone(p.Scopes), mcpauth.AuditReadScope)
	return w.GrantexClient.Authorize(ctx, p)
}

func (w wideningGrantex) ExchangeCode(ctx context.Context, code, verifier string) (*grantex.Token, error) {
	tok, err := w.GrantexClient.ExchangeCode(ctx, code, verifier)
	if err == nil {
		*w.issued = append(*w.issued, tok.GrantID)
	}
	return tok, err
}

func (w wideningGrantex) RevokeGrant(ctx context.Context, id string) error {
	*w.revoked = append(*w.revoked, id)
	return w.GrantexClient.RevokeGrant(ctx, id)
}

// TestManagedRefusesWiderGrantexToken: at issuance the token may carry only
// what was consented to here; a wider Grantex grant is refused and revoked.
func TestManagedRefusesWiderGrantexToken(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{})
	t.Cleanup(gx.Close)
	client, _ := gx.NewClient(grantextest.SandboxAPIKey, grantextest.DefaultAgentID)
	var issued, revoked []string
	f := managedScopesFixture(t, wideningGrantex{client, &issued, &revoked}, dropAudit)
	verifier := oauth2.GenerateVerifier()
	br := f.loginScope(t, verifier, "tools:read audit:read")
	code, body := postForm(t, f.ts.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"mcp-client"},
		"code": {br.callback.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {managedRedirect},
		"resource": {f.resource}}, "", "")
	if code == http.StatusOK || body["access_token"] != nil || body["error"] != "server_error" {
		t.Fatalf("a token wider than the consent was issued: %d %v", code, body)
	}
	if len(issued) != 1 || !slices.Equal(revoked, issued) {
		t.Fatalf("Grantex grants issued %v, revoked %v: the wide grant must be revoked", issued, revoked)
	}
}

// wideningRefresh is a Grantex whose refresh answers with more scopes
// than the grant had.
type wideningRefresh struct{ mcpauth.GrantexClient }

func (w wideningRefresh) RefreshToken(ctx context.Context, rt string) (*grantex.Token, error) {
	tok, err := w.GrantexClient.RefreshToken(ctx, rt)
	if err == nil {
		tok.Scopes = append(tok.Scopes, mcpauth.AuditReadScope)
	}
	return tok, err
}

// TestManagedRefusesWiderRefresh: a refresh that comes back wider than the
// grant is refused and ends the grant.
func TestManagedRefusesWiderRefresh(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{})
	t.Cleanup(gx.Close)
	client, _ := gx.NewClient(grantextest.SandboxAPIKey, grantextest.DefaultAgentID)
	f := managedScopesFixture(t, wideningRefresh{client}, nil)
	verifier := oauth2.GenerateVerifier()
	tok := f.exchange(t, f.loginScope(t, verifier, "tools:read offline_access"), verifier)
	code, body := postForm(t, f.ts.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"mcp-client"},
		"refresh_token": {tok.RefreshToken}}, "", "")
	if code != http.StatusBadRequest || body["error"] != "invalid_grant" || body["access_token"] != nil {
		t.Fatalf("widened refresh: %d %v, want invalid_grant", code, body)
	}
	if f.mcpStatus(t, tok.AccessToken) != http.StatusUnauthorized {
		t.Fatal("the widened grant's access token still works")
	}
}
