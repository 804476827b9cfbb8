package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// startServer runs the example on a loopback httptest server. With
// autoApprove the authorization endpoint signs "demo" in and consents
// without a page (the server allows that only on loopback issuers).
func startServer(t *testing.T, autoApprove string) string {
	return startObservedServer(t, autoApprove, nil)
}

// startObservedServer is startServer whose handler is wrapped by wrap.
func startObservedServer(t *testing.T, autoApprove string, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	var auth mcpauth.Authenticator
	if autoApprove != "" {
		auth = mcpauthtest.AutoApprove(autoApprove)
	}
	handler, closeFn, err := newHandler(config{
		BaseURL:       ts.URL,
		Password:      "correct horse",
		Authenticator: auth,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeFn)
	h = handler
	if wrap != nil {
		h = wrap(handler)
	}
	return ts.URL
}

// TestMCPServerEndToEnd drives the MCP Go SDK's own OAuth client
// (auth.AuthorizationCodeHandler) against the example: 401 challenge →
// protected resource metadata → authorization server metadata → dynamic
// client registration → authorization code with PKCE and resource →
// token → tools/call whoami with the bearer token.
func TestMCPServerEndToEnd(t *testing.T) {
	base := startServer(t, "demo")
	const redirect = "http://127.0.0.1:9/callback" // never served: the fetcher reads the redirect itself

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	fetcher := func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
		next := args.URL
		for range 5 { // follow the AS's own redirects until it sends us to the client
			req, _ := http.NewRequestWithContext(ctx, "GET", next, nil)
			resp, err := noFollow.Do(req)
			if err != nil {
				return nil, err
			}
			resp.Body.Close()
			loc, err := resp.Location()
			if err != nil {
				return nil, fmt.Errorf("authorize: status %d, no redirect", resp.StatusCode)
			}
			if strings.HasPrefix(loc.String(), redirect) {
				q := loc.Query()
				if e := q.Get("error"); e != "" {
					return nil, fmt.Errorf("authorize: %s: %s", e, q.Get("error_description"))
				}
				return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
			}
			next = loc.String()
		}
		return nil, fmt.Errorf("authorize: too many redirects")
	}
	oauth, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{
				RedirectURIs:            []string{redirect},
				ClientName:              "end-to-end test",
				TokenEndpointAuthMethod: "none",
				GrantTypes:              []string{"authorization_code", "refresh_token"},
			},
		},
		RedirectURL:              redirect,
		AuthorizationCodeFetcher: fetcher,
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", OAuthHandler: oauth, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	out, _ := res.StructuredContent.(map[string]any)
	if res.IsError || out["sub"] != "demo" || fmt.Sprint(out["scopes"]) != "[tools:read]" || out["client_id"] == "" {
		t.Fatalf("whoami = %+v (structured %v)", res.Content, res.StructuredContent)
	}
	text := res.Content[0].(*mcp.TextContent).Text
	if !strings.HasPrefix(text, "You are demo, calling through client ") {
		t.Errorf("whoami text = %q", text)
	}

	// Revocation (RFC 7009) is honoured by the very next request: the
	// middleware verifies in process and drops its cached copy at once.
	ts, err := oauth.TokenSource(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	bearerPost := func() (int, string) {
		req, _ := http.NewRequest("POST", base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	if status, chal := bearerPost(); status == http.StatusUnauthorized {
		t.Fatalf("before revocation: %d %s", status, chal)
	}
	resp, err := http.PostForm(base+"/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {fmt.Sprint(out["client_id"])}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if status, chal := bearerPost(); status != http.StatusUnauthorized || !strings.Contains(chal, `error="invalid_token"`) {
		t.Fatalf("after revocation: got (%d, %s), want 401 invalid_token", status, chal)
	}
}

// TestMCPServerChallenges checks the unauthenticated surface.
func TestMCPServerChallenges(t *testing.T) {
	base := startServer(t, "")
	u, _ := url.Parse(base)
	prm := base + "/.well-known/oauth-protected-resource/mcp"
	resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := `Bearer scope="tools:read", resource_metadata="` + prm + `"`
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || got != want {
		t.Errorf("POST /mcp: got (%d, %s), want (401, %s)", resp.StatusCode, got, want)
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server", "/.well-known/jwks.json"} {
		resp, err := http.Get("http://" + u.Host + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
}
