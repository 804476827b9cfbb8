package sdkauth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/sdkauth"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// issuer is a minimal authorization server: a JWKS and a token minter.
type issuer struct {
	srv    *httptest.Server
	url    string
	key    *ecdsa.PrivateKey
	signer jose.Signer
	down   atomic.Bool
}

func newIssuer(t *testing.T) *issuer {
	is := startIssuer()
	t.Cleanup(is.srv.Close)
	return is
}

// startIssuer starts an issuer; the caller closes is.srv.
func startIssuer() *issuer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	is := &issuer{key: key}
	is.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		panic(err)
	}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if is.down.Load() || r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	}))
	is.url = is.srv.URL
	return is
}

const resource = "https://mcp.example.com/mcp"

// token mints an access token for sub with scopes, valid for ttl.
func (is *issuer) token(sub, scope string, ttl time.Duration) string {
	return is.tokenFor(sub, "grant-"+sub, scope, ttl)
}

func (is *issuer) tokenFor(sub, grantID, scope string, ttl time.Duration) string {
	now := time.Now()
	tok, err := jwt.Signed(is.signer).Claims(map[string]any{
		"iss": is.url, "sub": sub, "aud": resource, "exp": now.Add(ttl).Unix(), "iat": now.Unix(),
		"jti": "jti-" + grantID, "client_id": "client-1", "scope": scope, "agt": "did:grantex:ag_1", "dev": "local", "grnt": grantID,
	}).Serialize()
	if err != nil {
		panic(err)
	}
	return tok
}

func (is *issuer) verifier(t testing.TB) *mcpauth.Verifier {
	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{JWKSURL: is.url + "/.well-known/jwks.json", TokenIssuer: is.url, Audience: resource, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestTokenVerifier(t *testing.T) {
	is := newIssuer(t)
	verify := sdkauth.TokenVerifier(is.verifier(t))
	ctx := context.Background()

	info, err := verify(ctx, is.token("alice", "tools:read files", time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := info.Extra[sdkauth.ExtraGrant].(*mcpauth.Grant)
	if info.UserID != "alice" || fmt.Sprint(info.Scopes) != "[tools:read files]" || info.Expiration.Before(time.Now().Add(59*time.Minute)) ||
		g == nil || g.Subject != "alice" || info.Extra[sdkauth.ExtraClientID] != "client-1" || info.Extra[sdkauth.ExtraTokenID] != "jti-grant-alice" ||
		info.Extra[sdkauth.ExtraGrantID] != "grant-alice" || info.Extra[sdkauth.ExtraAgentDID] != "did:grantex:ag_1" ||
		fmt.Sprint(info.Extra[sdkauth.ExtraAudience]) != "["+resource+"]" || info.Extra[sdkauth.ExtraIssuer] != is.url {
		t.Errorf("TokenInfo = %+v", info)
	}
	if claims, _ := info.Extra[sdkauth.ExtraClaims].(map[string]any); claims["sub"] != "alice" {
		t.Errorf("claims = %v", info.Extra[sdkauth.ExtraClaims])
	}

	for _, tok := range []string{"garbage", is.token("bob", "x", -time.Hour)} {
		if _, err := verify(ctx, tok, nil); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("bad token: err = %v, want auth.ErrInvalidToken", err)
		}
	}

	// No keys yet: not ErrInvalidToken (the SDK answers 500, not 401).
	cold := newIssuer(t)
	cold.down.Store(true)
	_, err = sdkauth.TokenVerifier(cold.verifier(t))(ctx, cold.token("c", "x", time.Hour), nil)
	if err == nil || errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, auth.ErrOAuth) {
		t.Errorf("keys unavailable: err = %v", err)
	}
}

// whoamiServer is an MCP server with one tool that reports the caller.
func whoamiServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "whoami", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "reports the caller"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			ctxGrant := "none"
			if g, ok := mcpauth.GrantFromContext(ctx); ok {
				ctxGrant = g.GrantID
			}
			g, ok := sdkauth.GrantFromRequest(req)
			if !ok {
				return nil, nil, errors.New("no grant")
			}
			text := fmt.Sprintf("%s via %s, grant %s, scopes %s; ctx grant %s", g.Subject, g.ClientID, g.GrantID, strings.Join(g.Scopes, " "), ctxGrant)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
		})
	return s
}

type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func callWhoami(_ testing.TB, endpoint, token string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:             endpoint,
		HTTPClient:           &http.Client{Transport: bearerTransport{token}},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, nil)
	if err != nil {
		return "", err
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		return "", err
	}
	if res.IsError {
		return "", fmt.Errorf("tool error: %v", res.Content)
	}
	return res.Content[0].(*mcp.TextContent).Text, nil
}

func TestEndToEnd(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier(t)
	srv := whoamiServer()
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	prm := "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"

	for _, tc := range []struct {
		name    string
		handler http.Handler
	}{
		{"auth.RequireBearerToken+TokenVerifier", auth.RequireBearerToken(sdkauth.TokenVerifier(v), &auth.RequireBearerTokenOptions{ResourceMetadataURL: prm, Scopes: []string{"tools:read"}})(mcpHandler)},
		{"sdkauth.RequireMCPAuth", sdkauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Logger: quiet}, Verifier: v, RequiredScopes: []string{"tools:read"}})(mcpHandler)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(tc.handler)
			defer ts.Close()
			got, err := callWhoami(t, ts.URL, is.token("alice", "tools:read", time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if want := "alice via client-1, grant grant-alice, scopes tools:read"; !strings.HasPrefix(got, want) {
				t.Errorf("whoami = %q, want %q", got, want)
			}
			if _, err := callWhoami(t, ts.URL, is.token("eve", "files", time.Hour)); err == nil {
				t.Error("token without tools:read was accepted")
			}
			if _, err := callWhoami(t, ts.URL, "garbage"); err == nil {
				t.Error("garbage token was accepted")
			}
			// The SDK binds the session to the token's subject: bob cannot
			// use alice's session.
			sid := initialize(t, ts.URL, is.token("alice", "tools:read", time.Hour))
			status := post(t, ts.URL, is.token("bob", "tools:read", time.Hour), sid, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
			if status != http.StatusForbidden {
				t.Errorf("bob on alice's session: status %d, want 403", status)
			}
		})
	}
}

// TestGrantPerRequest shows why tool handlers read the grant from the
// request: with stateful sessions the SDK runs handlers on the context of
// the request that created the session, so mcpauth.GrantFromContext gives
// that request's grant, while GrantFromRequest gives the current one.
// With Stateless, both agree.
func TestGrantPerRequest(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier(t)
	srv := whoamiServer()
	for _, stateless := range []bool{false, true} {
		t.Run(fmt.Sprint("stateless=", stateless), func(t *testing.T) {
			h := sdkauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Logger: quiet}, Verifier: v})(
				mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: stateless, JSONResponse: true}))
			ts := httptest.NewServer(h)
			defer ts.Close()
			first := is.tokenFor("alice", "grant-1", "tools", time.Hour)
			second := is.tokenFor("alice", "grant-2", "tools", time.Hour) // e.g. after a refresh
			sid := ""
			if !stateless {
				sid = initialize(t, ts.URL, first)
				post(t, ts.URL, first, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
			}
			_, body := postBody(t, ts.URL, second, sid, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
			want := "grant grant-2, scopes tools; ctx grant grant-1"
			if stateless {
				want = "grant grant-2, scopes tools; ctx grant grant-2"
			}
			if !strings.Contains(body, want) {
				t.Errorf("tools/call answer %s\nwant it to contain %q", body, want)
			}
		})
	}
}

func initialize(t *testing.T, url, token string) string {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	req, _ := http.NewRequest("POST", url, bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, sid)
	}
	return sid
}

func post(t *testing.T, url, token, sid, body string) int {
	t.Helper()
	status, _ := postBody(t, url, token, sid, body)
	return status
}

func postBody(t *testing.T, url, token, sid, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// TestRequireMCPAuthChallenges: the composed middleware answers with
// mcpauth's challenges, not the SDK's.
func TestRequireMCPAuthChallenges(t *testing.T) {
	is := newIssuer(t)
	h := sdkauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Logger: quiet}, Verifier: is.verifier(t), RequiredScopes: []string{"tools:write"}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ti := auth.TokenInfoFromContext(r.Context())
			if ti == nil || ti.UserID != "alice" {
				t.Errorf("TokenInfo = %+v", ti)
			}
		}))
	tests := []struct {
		token  string
		status int
		chal   string
	}{
		{"", 401, `Bearer scope="tools:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`},
		{"garbage", 401, `Bearer error="invalid_token", error_description="malformed token", scope="tools:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`},
		{is.token("alice", "tools:read", time.Hour), 403, `Bearer error="insufficient_scope", error_description="the token lacks a required scope: tools:write", scope="tools:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`},
		{is.token("alice", "tools", time.Hour), 200, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/mcp", nil)
		if tt.token != "" {
			r.Header.Set("Authorization", "Bearer "+tt.token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Header().Get("WWW-Authenticate"); w.Code != tt.status || got != tt.chal {
			t.Errorf("got (%d, %s), want (%d, %s)", w.Code, got, tt.status, tt.chal)
		}
	}
}

func TestGrantFromRequest(t *testing.T) {
	g := &mcpauth.Grant{Subject: "alice"}
	tests := []struct {
		name string
		req  mcp.Request
		want *mcpauth.Grant
	}{
		{"nil", nil, nil},
		{"no extra", &mcp.CallToolRequest{}, nil},
		{"no token info", &mcp.CallToolRequest{Extra: &mcp.RequestExtra{}}, nil},
		{"no grant", &mcp.CallToolRequest{Extra: &mcp.RequestExtra{TokenInfo: &auth.TokenInfo{}}}, nil},
		{"grant", &mcp.CallToolRequest{Extra: &mcp.RequestExtra{TokenInfo: sdkauth.TokenInfo(g)}}, g},
		{"other request type", &mcp.ListToolsRequest{Extra: &mcp.RequestExtra{TokenInfo: sdkauth.TokenInfo(g)}}, g},
	}
	for _, tt := range tests {
		got, ok := sdkauth.GrantFromRequest(tt.req)
		if got != tt.want || ok != (tt.want != nil) {
			t.Errorf("%s: GrantFromRequest = %v, %v", tt.name, got, ok)
		}
	}
}

// TestToolScopes: a tool that needs more than the endpoint answers 403
// insufficient_scope naming every scope the call needs, and the SDK still
// reads the body the middleware peeked at.
func TestToolScopes(t *testing.T) {
	is := newIssuer(t)
	srv := whoamiServer()
	mcp.AddTool(srv, &mcp.Tool{Name: "add", Description: "adds"},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct{ A, B int }) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(in.A + in.B)}}}, nil, nil
		})
	h := sdkauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Logger: quiet}, Verifier: is.verifier(t), RequiredScopes: []string{"tools:read"}},
		sdkauth.ToolScopes(map[string][]string{"add": {"tools:execute"}}), sdkauth.MaxBodyBytes(4096))(
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true}))
	ts := httptest.NewServer(h)
	defer ts.Close()

	const prm = `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`
	call := func(tool string) string {
		args := `{}`
		if tool == "add" {
			args = `{"A":2,"B":3}`
		}
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}`
	}
	tests := []struct {
		name, scope, body string
		status            int
		chal, result      string
	}{
		{"endpoint scope, plain tool", "tools:read", call("whoami"), 200, "", "alice via client-1"},
		{"endpoint scope, privileged tool", "tools:read", call("add"), 403,
			`Bearer error="insufficient_scope", error_description="the token lacks a required scope: tools:read tools:execute", scope="tools:read tools:execute", ` + prm, ""},
		{"both scopes", "tools:read tools:execute", call("add"), 200, "", `"text":"5"`},
		{"parent scope covers both", "tools", call("add"), 200, "", `"text":"5"`},
		{"tool scope without the endpoint's", "tools:execute", call("add"), 403,
			`Bearer error="insufficient_scope", error_description="the token lacks a required scope: tools:read tools:execute", scope="tools:read tools:execute", ` + prm, ""},
		{"other methods need the endpoint scope only", "tools:read", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 200, "", `"name":"add"`},
		{"batch naming the tool", "tools:read", `[` + call("whoami") + `,` + call("add") + `]`, 403,
			`Bearer error="insufficient_scope", error_description="the token lacks a required scope: tools:read tools:execute", scope="tools:read tools:execute", ` + prm, ""},
		{"tool name in another case spelling", "tools:read", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","NAME":"whoami"}}`, 403,
			`Bearer error="insufficient_scope", error_description="the token lacks a required scope: tools:read tools:execute", scope="tools:read tools:execute", ` + prm, ""},
		{"malformed body", "tools:read", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add"`, 400,
			`Bearer error="invalid_request", error_description="the request body is not a JSON-RPC message", scope="tools:read", ` + prm, ""},
		{"body over the limit", "tools:read", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"x":"` + strings.Repeat("x", 4096) + `"}}}`, 413, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", ts.URL, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+is.token("alice", tt.scope, time.Hour))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != tt.status || got != tt.chal {
				t.Fatalf("got (%d, %s), want (%d, %s); body %s", resp.StatusCode, got, tt.status, tt.chal, body)
			}
			if !strings.Contains(string(body), tt.result) {
				t.Errorf("body %s, want it to contain %s", body, tt.result)
			}
		})
	}
}

func TestNewRequireMCPAuth(t *testing.T) {
	is := newIssuer(t)
	good := &mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Logger: quiet}, Verifier: is.verifier(t)}
	if _, err := sdkauth.NewRequireMCPAuth(good, sdkauth.ToolScopes(map[string][]string{"add": {"tools:execute"}})); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	if good.RequestScopes != nil {
		t.Error("NewRequireMCPAuth modified the caller's options")
	}
	for name, tc := range map[string]struct {
		opts    *mcpauth.RequireMCPAuthOptions
		options []sdkauth.Option
	}{
		"nil options":        {nil, nil},
		"no audience":        {&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Issuer: is.url}}, nil},
		"bad endpoint scope": {&mcpauth.RequireMCPAuthOptions{Verifier: is.verifier(t), RequiredScopes: []string{"a b"}}, nil},
		"bad tool scope":     {good, []sdkauth.Option{sdkauth.ToolScopes(map[string][]string{"add": {"a b"}})}},
		"bad method scope":   {good, []sdkauth.Option{sdkauth.MethodScopes(map[string][]string{"tools/call": {""}})}},
		"bad body limit":     {good, []sdkauth.Option{sdkauth.MaxBodyBytes(0)}},
	} {
		if mw, err := sdkauth.NewRequireMCPAuth(tc.opts, tc.options...); err == nil || mw != nil {
			t.Errorf("%s: NewRequireMCPAuth = %v, %v; want an error", name, mw != nil, err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: RequireMCPAuth did not panic", name)
				}
			}()
			sdkauth.RequireMCPAuth(tc.opts, tc.options...)
		}()
	}
}
