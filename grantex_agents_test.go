package mcpauth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/grantex/grantextest"
	"github.com/mcpauth/mcpauth/store"
)

// TestManagedDelegation: in managed mode the token exchange is served by
// Grantex's POST /v1/grants/delegate; its refusals become OAuth errors, and
// revoking the root grant ends the delegated one here and at Grantex.
func TestManagedDelegation(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{MaxDelegationDepth: 1, Agents: map[string]grantextest.Agent{
		grantextest.DefaultAgentID: {Name: "Agent"}, "ag_SUB": {Name: "Sub-agent"}}})
	t.Cleanup(gx.Close)
	client, err := gx.NewClient(grantextest.DefaultAPIKey, grantextest.DefaultAgentID)
	if err != nil {
		t.Fatal(err)
	}
	f := newManagedFixture(t, client, grantextest.DefaultAgentID, gx.Issuer())
	verifier := oauth2.GenerateVerifier()
	br, consent := f.login(t, verifier)
	br.submit(consent, gx.URL+"/consent/approve", nil)
	tok := f.exchange(t, br, verifier)

	exchange := func(subject string, extra url.Values) (int, map[string]any) {
		v := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "client_id": {"mcp-client"},
			"subject_token": {subject}, "subject_token_type": {mcpauth.TokenTypeAccessToken},
			"actor_token": {"did:grantex:ag_SUB"}, "actor_token_type": {mcpauth.TokenTypeAgentID}}
		for k, vs := range extra {
			v[k] = vs
		}
		return postForm(t, f.ts.URL+"/token", v, "", "")
	}
	resp, err := http.Get(f.ts.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	if md := jsonBody(t, resp); !slices.Contains(toStrings(md["grant_types_supported"]), "urn:ietf:params:oauth:grant-type:token-exchange") {
		t.Error("managed mode does not advertise token exchange")
	}
	code, child := exchange(tok.AccessToken, url.Values{"scope": {"tools:read"}})
	if code != http.StatusOK || child["issued_token_type"] != mcpauth.TokenTypeAccessToken {
		t.Fatalf("managed exchange: %d %v", code, child)
	}
	ct := child["access_token"].(string)
	// Grantex's delegated tokens carry no aud (Grantex drops it): a resource
	// server refuses them unless it opts in with AllowMissingAudience.
	if got := f.mcpStatus(t, ct); got != http.StatusUnauthorized {
		t.Errorf("a delegated token without aud passed the audience check: %d", got)
	}
	if got := noAudStatus(t, f, ct); got != http.StatusOK {
		t.Fatalf("the delegated Grantex token is refused: %d", got)
	}
	if !f.introspectActive(t, ct) {
		t.Fatal("the delegated token is inactive")
	}
	// Grantex's depth cap (1) is below ours (3): its 403 is invalid_grant naming the depth.
	code, body := exchange(ct, nil)
	if desc, _ := body["error_description"].(string); code != http.StatusBadRequest || body["error"] != "invalid_grant" || !strings.Contains(desc, "depth 2") {
		t.Errorf("beyond Grantex's depth cap: %d %v", code, body)
	}
	// An unknown sub-agent.
	code, body = exchange(tok.AccessToken, url.Values{"actor_token": {"did:grantex:ag_NOBODY"}})
	if code != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Errorf("unknown sub-agent: %d %v", code, body)
	}
	// The user revokes the root grant: the delegated token dies here and at Grantex.
	_, pc := jwtParts(t, tok.AccessToken)
	parentGrant := pc["grnt"].(string)
	if err := f.srv.RevokeGrant(t.Context(), parentGrant); err != nil {
		t.Fatal(err)
	}
	if f.introspectActive(t, ct) || noAudStatus(t, f, ct) != http.StatusUnauthorized {
		t.Error("the delegated token survived revoking the root grant")
	}
	if v, err := client.VerifyToken(t.Context(), ct); err != nil || v.Valid {
		t.Errorf("Grantex still accepts the delegated token: %+v %v", v, err)
	}
}

// noAudStatus is mcpStatus for a resource server that accepts tokens
// without aud (AllowMissingAudience).
func noAudStatus(t *testing.T, f *managedFixture, token string) int {
	t.Helper()
	h := mcpauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Local: f.srv, Audience: f.resource, AllowMissingAudience: true}})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// TestManagedBudget: in managed mode budgets are kept at Grantex.
func TestManagedBudget(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{})
	t.Cleanup(gx.Close)
	client, err := gx.NewClient(grantextest.DefaultAPIKey, grantextest.DefaultAgentID)
	if err != nil {
		t.Fatal(err)
	}
	f := newManagedFixture(t, client, grantextest.DefaultAgentID, gx.Issuer())
	verifier := oauth2.GenerateVerifier()
	br, consent := f.login(t, verifier)
	br.submit(consent, gx.URL+"/consent/approve", nil)
	_, c := jwtParts(t, f.exchange(t, br, verifier).AccessToken)
	gid := c["grnt"].(string)
	ctx := t.Context()
	if err := f.srv.AllocateBudget(ctx, gid, 3); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.AllocateBudget(ctx, gid, 3); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second allocation: %v", err)
	}
	if b, err := f.srv.DebitBudget(ctx, gid, 2); err != nil || b.Remaining != 1 || b.Initial != 3 {
		t.Errorf("debit: %+v %v", b, err)
	}
	if b, err := f.srv.DebitBudget(ctx, gid, 2); !errors.Is(err, store.ErrInsufficientBudget) || b.Remaining != 1 {
		t.Errorf("overdraft: %+v %v", b, err)
	}
	if _, err := f.srv.Budget(ctx, "grnt_unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown grant: %v", err)
	}
	if gx.Requests("/v1/budget/debit") != 2 {
		t.Errorf("Grantex debit called %d times, want 2", gx.Requests("/v1/budget/debit"))
	}
}
