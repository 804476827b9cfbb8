package sdkauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/sdkauth"
	"github.com/mcpauth/mcpauth/store"
)

// TestAgentDelegationEndToEnd: a user consents to an agent; the agent
// delegates a narrower token to a sub-agent (RFC 8693); the sub-agent calls
// a tool through RequireMCPAuth and spends the budget the user's grant
// carries; the budget runs out (a tool error, the tool does not run); the
// user revokes the root grant and the sub-agent is refused at once.
func TestAgentDelegationEndToEnd(t *testing.T) {
	var asHandler, mcpHandler http.Handler
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asHandler.ServeHTTP(w, r) }))
	defer as.Close()
	mcpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mcpHandler.ServeHTTP(w, r) }))
	defer mcpSrv.Close()
	mcpURL := mcpSrv.URL + "/mcp"
	const redirect = "http://127.0.0.1:9/cb"

	var (
		mu      sync.Mutex
		budgets []mcpauth.BudgetEvent
	)
	srv, err := mcpauth.NewServer(mcpauth.Config{
		Issuer:        as.URL,
		Scopes:        []string{"tools:read", "tools:execute"},
		Resources:     []string{mcpURL},
		Authenticator: mcpauthtest.AutoApprove("user-1"),
		StaticClients: []store.Client{{ID: "agent", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none"}}},
		DefaultBudget: 3,
		Hooks: mcpauth.Hooks{OnBudget: func(_ context.Context, e mcpauth.BudgetEvent) error {
			mu.Lock()
			budgets = append(budgets, e)
			mu.Unlock()
			return nil
		}},
		Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	asHandler = srv

	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{Local: srv, Audience: mcpURL, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var runs atomic.Int64
	s := mcp.NewServer(&mcp.Implementation{Name: "tools", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "adds"},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct{ A, B int }) (*mcp.CallToolResult, any, error) {
			runs.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(in.A + in.B)}}}, nil, nil
		})
	s.AddReceivingMiddleware(sdkauth.ToolCosts(srv, map[string]int64{"add": 2}))
	mcpHandler = sdkauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{
		VerifierOptions: mcpauth.VerifierOptions{Audience: mcpURL},
		Verifier:        v,
		RequiredScopes:  []string{"tools:execute"},
	})(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))

	// 1. The user consents to the agent (authorization code + PKCE).
	verifier := strings.Repeat("v", 43)
	q := url.Values{"response_type": {"code"}, "client_id": {"agent"}, "redirect_uri": {redirect}, "state": {"st"},
		"code_challenge": {mcpauth.S256Challenge(verifier)}, "code_challenge_method": {"S256"},
		"scope": {"tools:read tools:execute"}, "resource": {mcpURL}}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(as.URL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	agent := postToken(t, as.URL, url.Values{"grant_type": {"authorization_code"}, "client_id": {"agent"},
		"code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {redirect}})
	rootGrant, _ := claim(t, agent["access_token"].(string), "grnt").(string)
	if b := claim(t, agent["access_token"].(string), "bdg"); b != float64(3) {
		t.Errorf("agent token bdg = %v, want the consent-time default 3", b)
	}

	// 2. The agent delegates tools:execute only to a sub-agent.
	sub := postToken(t, as.URL, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"client_id": {"agent"}, "subject_token": {agent["access_token"].(string)},
		"subject_token_type": {mcpauth.TokenTypeAccessToken}, "scope": {"tools:execute"},
		"actor_token": {"did:grantex:ag_SUB"}, "actor_token_type": {mcpauth.TokenTypeAgentID}})
	subToken := sub["access_token"].(string)
	if sub["scope"] != "tools:execute" || claim(t, subToken, "parentGrnt") != rootGrant {
		t.Fatalf("delegated: %v", sub)
	}

	// 3. The sub-agent calls the tool: it costs 2 of the 3 the user's grant has.
	if text, isErr, err := callAdd(mcpURL, subToken); err != nil || isErr || text != "5" {
		t.Fatalf("first call: %q isError=%v err=%v", text, isErr, err)
	}
	if b, err := srv.Budget(t.Context(), rootGrant); err != nil || b.Remaining != 1 {
		t.Errorf("budget after one call = %+v, %v; want 1 remaining", b, err)
	}
	// 4. The next call cannot be paid: a tool error, and the tool does not run.
	text, isErr, err := callAdd(mcpURL, subToken)
	if err != nil || !isErr || !strings.Contains(text, "insufficient budget") || runs.Load() != 1 {
		t.Errorf("second call: %q isError=%v err=%v runs=%d", text, isErr, err, runs.Load())
	}
	mu.Lock()
	if len(budgets) != 1 || budgets[0].UsedPercent != 50 || budgets[0].Budget.Remaining != 1 {
		t.Errorf("budget events = %+v, want one at 50%%", budgets)
	}
	mu.Unlock()

	// 5. The user revokes the root grant: the sub-agent is refused at once.
	if err := srv.RevokeGrant(t.Context(), rootGrant); err != nil {
		t.Fatal(err)
	}
	if _, _, err := callAdd(mcpURL, subToken); err == nil {
		t.Error("the sub-agent's call succeeded after the root grant was revoked")
	}
	if runs.Load() != 1 {
		t.Errorf("the tool ran %d times", runs.Load())
	}
	// The refusal is the middleware's 401, not a tool error.
	req, _ := http.NewRequest(http.MethodPost, mcpURL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	req.Header.Set("Authorization", "Bearer "+subToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked sub-agent token: %v %v", resp.StatusCode, err)
	}
}

func postToken(t *testing.T, issuer string, form url.Values) map[string]any {
	t.Helper()
	resp, err := http.PostForm(issuer+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("token (%s): %d %v %v", form.Get("grant_type"), resp.StatusCode, m, err)
	}
	return m
}

func claim(t *testing.T, token, name string) any {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := tok.UnsafeClaimsWithoutVerification(&m); err != nil {
		t.Fatal(err)
	}
	return m[name]
}

func callAdd(endpoint, token string) (text string, isError bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "sub-agent", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: endpoint, HTTPClient: &http.Client{Transport: bearerTransport{token}}, DisableStandaloneSSE: true, MaxRetries: -1,
	}, nil)
	if err != nil {
		return "", false, err
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "add", Arguments: map[string]int{"A": 2, "B": 3}})
	if err != nil {
		return "", false, err
	}
	return res.Content[0].(*mcp.TextContent).Text, res.IsError, nil
}
