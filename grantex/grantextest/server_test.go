package grantextest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpauth/mcpauth/grantex"
	"github.com/mcpauth/mcpauth/grantex/grantextest"
)

// testKey is generated once: RSA generation dominates server start-up.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 8, 22, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newServer(t *testing.T, opts grantextest.Options) *grantextest.Server {
	t.Helper()
	if opts.Key == nil {
		opts.Key = testKey()
	}
	s := grantextest.NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, s *grantextest.Server, key string, opts ...grantex.Option) *grantex.Client {
	t.Helper()
	c, err := s.NewClient(key, grantextest.DefaultAgentID,
		append([]grantex.Option{grantex.WithBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// call sends a raw API request and decodes a JSON answer.
func call(t *testing.T, s *grantextest.Server, method, path, key string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: non-JSON answer %q", method, path, raw)
		}
	}
	return resp.StatusCode, resp.Header, out
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// wantAPIError checks an error is an *APIError with the contract's shape.
func wantAPIError(t *testing.T, err error, status int, code, message string) {
	t.Helper()
	e, ok := errors.AsType[*grantex.APIError](err)
	if !ok {
		t.Fatalf("err = %v, want *APIError %d", err, status)
	}
	if e.StatusCode != status || e.Code != code || (message != "" && e.Message != message) || !uuidRE.MatchString(e.RequestID) {
		t.Fatalf("APIError = %+v, want %d %s %q with a uuid requestId", e, status, code, message)
	}
}

func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// noRedirect is a browser that stops at redirects so tests can read them.
func noRedirect(s *grantextest.Server) *http.Client {
	c := *s.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// consent loads the consent page and submits its Approve or Deny form, as
// a browser would. It returns the final answer (redirects not followed).
func consent(t *testing.T, s *grantextest.Server, consentURL, button string) *http.Response {
	t.Helper()
	browser := noRedirect(s)
	resp, err := browser.Get(consentURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("consent page CSP = %q", csp)
	}
	// Find the form whose button is labelled button, and post it.
	re := regexp.MustCompile(`<form method="post" action="([^"]+)"><input type="hidden" name="req" value="([^"]+)"><button type="submit">` + button + `</button>`)
	m := re.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("no %s form in page:\n%s", button, page)
	}
	action, _ := url.Parse(consentURL)
	action, _ = action.Parse(m[1])
	resp, err = browser.PostForm(action.String(), url.Values{"req": {m[2]}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// parseToken verifies a grant token against the server's JWKS and returns
// its header and claims.
func parseToken(t *testing.T, s *grantextest.Server, raw string) (jose.Header, map[string]any) {
	t.Helper()
	resp, err := s.Client().Get(s.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d keys in JWKS", tok.Headers[0].KeyID, len(keys))
	}
	var claims map[string]any
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatal(err)
	}
	return tok.Headers[0], claims
}

func jtiOf(t *testing.T, raw string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	_ = tok.UnsafeClaimsWithoutVerification(&c)
	return c.JTI
}

// TestFullFlow walks the live flow of contract §1.2–§1.7: authorize →
// consent page approve → redirect → exchange → verify → refresh rotation →
// revoke → verify invalid.
func TestFullFlow(t *testing.T) {
	clk := newClock()
	s := newServer(t, grantextest.Options{Now: clk.Now, Issuer: "https://grantex.dev",
		ScopeDescriptions: map[string]string{"files:read": "Read your files"}})
	c := newClient(t, s, grantextest.DefaultAPIKey)
	ctx := context.Background()
	verifier, challenge := pkce()

	ar, err := c.Authorize(ctx, grantex.AuthorizeParams{
		PrincipalID: "user_1", Scopes: []string{"files:read", "files:write"},
		RedirectURI: "http://127.0.0.1:9999/callback?tenant=a", State: "st-1", ExpiresIn: "2h",
		Audience: "https://mcp.example/mcp", CodeChallenge: challenge, CodeChallengeMethod: "S256",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ar.AuthRequestID, "areq_") || ar.ConsentURL != s.URL+"/consent?req="+ar.AuthRequestID ||
		!ar.ExpiresAt.Equal(clk.Now().Add(2*time.Hour)) || ar.Code != "" || ar.Sandbox {
		t.Fatalf("auth request = %+v", ar)
	}

	// The JSON consent API the real page's JS reads.
	status, _, info := call(t, s, "GET", "/v1/consent/"+ar.AuthRequestID, "", nil)
	if status != 200 || info["agentName"] != grantextest.DefaultAgentName || info["agentDid"] != "did:grantex:"+grantextest.DefaultAgentID ||
		info["status"] != "pending" || info["fidoRequired"] != false || info["agentDescription"] != nil {
		t.Fatalf("consent info = %d %v", status, info)
	}

	resp := consent(t, s, ar.ConsentURL, "Approve")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("approve: status %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	if loc.Host != "127.0.0.1:9999" || loc.Path != "/callback" || q.Get("tenant") != "a" || q.Get("state") != "st-1" || q.Get("code") == "" {
		t.Fatalf("redirect = %s", loc)
	}
	code := q.Get("code")

	tok, err := c.ExchangeCode(ctx, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.RefreshToken, "ref_") || !strings.HasPrefix(tok.GrantID, "grnt_") ||
		!tok.ExpiresAt.Equal(clk.Now().Add(2*time.Hour)) || strings.Join(tok.Scopes, " ") != "files:read files:write" {
		t.Fatalf("token = %+v", tok)
	}
	hdr, claims := parseToken(t, s, tok.GrantToken)
	if hdr.Algorithm != "RS256" || hdr.KeyID != "grantex-2026-08" || hdr.ExtraHeaders["typ"] != nil {
		t.Errorf("JWT header = %+v %v, want RS256, kid grantex-2026-08, no typ", hdr, hdr.ExtraHeaders)
	}
	want := map[string]any{
		"iss": "https://grantex.dev", "sub": "user_1", "aud": "https://mcp.example/mcp",
		"agt": "did:grantex:" + grantextest.DefaultAgentID, "dev": grantextest.DefaultDeveloperID,
		"grnt": tok.GrantID, "iat": float64(clk.Now().Unix()), "exp": float64(clk.Now().Add(2 * time.Hour).Unix()),
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if scp, _ := claims["scp"].([]any); len(scp) != 2 {
		t.Errorf("scp = %v, want a 2-element array", claims["scp"])
	}
	if jti, _ := claims["jti"].(string); !strings.HasPrefix(jti, "tok_") {
		t.Errorf("jti = %v", claims["jti"])
	}
	for _, k := range []string{"delegationDepth", "parentAgt", "parentGrnt", "bdg"} {
		if _, ok := claims[k]; ok {
			t.Errorf("root token carries %s", k)
		}
	}

	// The code is single use.
	_, err = c.ExchangeCode(ctx, code, verifier)
	wantAPIError(t, err, 400, "BAD_REQUEST", "Invalid code")

	v, err := c.VerifyToken(ctx, tok.GrantToken)
	if err != nil || !v.Valid || v.GrantID != tok.GrantID || v.Principal != "user_1" || v.Agent != "did:grantex:"+grantextest.DefaultAgentID ||
		!v.ExpiresAt.Equal(tok.ExpiresAt) || len(v.Scopes) != 2 {
		t.Fatalf("verify = %+v, %v", v, err)
	}

	// Refresh an hour later: rotation, same grant, expiry not extended.
	clk.Advance(time.Hour)
	tok2, err := c.RefreshToken(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if tok2.GrantID != tok.GrantID || tok2.RefreshToken == tok.RefreshToken || !tok2.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Fatalf("refreshed = %+v, first %+v", tok2, tok)
	}
	if jtiOf(t, tok2.GrantToken) == jtiOf(t, tok.GrantToken) {
		t.Error("refresh reused the jti")
	}
	_, err = c.RefreshToken(ctx, tok.RefreshToken)
	wantAPIError(t, err, 400, "BAD_REQUEST", "Refresh token already used")

	// Revoke the new jti: 204, then 404 (which the client maps to nil).
	jti := jtiOf(t, tok2.GrantToken)
	if status, _, _ := call(t, s, "POST", "/v1/tokens/revoke", grantextest.DefaultAPIKey, map[string]string{"jti": jti}); status != 204 {
		t.Fatalf("revoke: %d", status)
	}
	status, _, body := call(t, s, "POST", "/v1/tokens/revoke", grantextest.DefaultAPIKey, map[string]string{"jti": jti})
	if status != 404 || body["code"] != "NOT_FOUND" || body["message"] != "Token not found or already revoked" {
		t.Fatalf("second revoke: %d %v", status, body)
	}
	if err := c.RevokeToken(ctx, jti); err != nil {
		t.Fatalf("client revoke of a revoked jti: %v", err)
	}
	if v, err := c.VerifyToken(ctx, tok2.GrantToken); err != nil || v.Valid {
		t.Fatalf("verify revoked = %+v, %v", v, err)
	}
	// Revoking one jti leaves the grant usable (§1.7).
	if v, err := c.VerifyToken(ctx, tok.GrantToken); err != nil || !v.Valid {
		t.Fatalf("verify sibling token = %+v, %v", v, err)
	}
	if _, err := c.RefreshToken(ctx, tok2.RefreshToken); err != nil {
		t.Fatalf("refresh after jti revoke: %v", err)
	}

	// After the grant's expiry everything is dead.
	clk.Advance(2 * time.Hour)
	if v, _ := c.VerifyToken(ctx, tok.GrantToken); v.Valid {
		t.Error("expired token verifies")
	}
}

func TestDenyFlow(t *testing.T) {
	s := newServer(t, grantextest.Options{})
	c := newClient(t, s, grantextest.DefaultAPIKey)
	ar, err := c.Authorize(context.Background(), grantex.AuthorizeParams{
		PrincipalID: "u", Scopes: []string{"read"}, RedirectURI: "https://app.example/cb", State: "xyz",
	})
	if err != nil {
		t.Fatal(err)
	}
	resp := consent(t, s, ar.ConsentURL, "Deny")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "xyz" || loc.Query().Has("code") {
		t.Fatalf("deny: %d %s", resp.StatusCode, loc)
	}
	// Processed: the page and the API now answer 410 GONE.
	r2, err := s.Client().Get(ar.ConsentURL)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusGone {
		t.Errorf("consent page after deny: %d", r2.StatusCode)
	}
	if status, _, body := call(t, s, "POST", "/v1/consent/"+ar.AuthRequestID+"/approve", "", nil); status != 410 || body["code"] != "GONE" {
		t.Errorf("approve after deny: %d %v", status, body)
	}
}

// TestConsentAPI covers the public JSON consent routes and a request with
// no redirectUri, whose code only the API caller sees (§1.3).
func TestConsentAPI(t *testing.T) {
	s := newServer(t, grantextest.Options{})
	c := newClient(t, s, grantextest.DefaultAPIKey)
	ctx := context.Background()
	ar, err := c.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	status, _, body := call(t, s, "POST", "/v1/consent/"+ar.AuthRequestID+"/approve", "", nil)
	code, _ := body["code"].(string)
	if status != 200 || code == "" || body["redirectUri"] != nil || body["state"] != nil {
		t.Fatalf("approve: %d %v", status, body)
	}
	if _, err := c.ExchangeCode(ctx, code, ""); err != nil {
		t.Fatal(err)
	}
	if status, _, body := call(t, s, "GET", "/v1/consent/areq_unknown", "", nil); status != 404 || body["code"] != "NOT_FOUND" {
		t.Errorf("unknown: %d %v", status, body)
	}
	// Without a redirectUri the form shows a message and never redirects.
	ar2, err := c.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	resp := consent(t, s, ar2.ConsentURL, "Approve")
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(page), "close this window") {
		t.Errorf("approve without redirect: %d %s", resp.StatusCode, page)
	}
}

func TestSandboxAutoApprove(t *testing.T) {
	s := newServer(t, grantextest.Options{})
	c := newClient(t, s, grantextest.SandboxAPIKey)
	ctx := context.Background()
	ar, err := c.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if !ar.Sandbox || ar.Code == "" {
		t.Fatalf("sandbox authorize = %+v", ar)
	}
	tok, err := c.ExchangeCode(ctx, ar.Code, "")
	if err != nil {
		t.Fatal(err)
	}
	_, claims := parseToken(t, s, tok.GrantToken)
	if claims["dev"] != grantextest.SandboxDeveloperID {
		t.Errorf("dev = %v", claims["dev"])
	}
	// Another developer cannot redeem or verify it.
	live := newClient(t, s, grantextest.DefaultAPIKey)
	if v, err := live.VerifyToken(ctx, tok.GrantToken); err != nil || v.Valid {
		t.Errorf("cross-developer verify = %+v, %v", v, err)
	}
	// The sandbox-only approve route refuses live developers.
	ar2, err := live.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if status, _, body := call(t, s, "POST", "/v1/authorize/"+ar2.AuthRequestID+"/approve", grantextest.DefaultAPIKey, nil); status != 403 || body["code"] != "CONSENT_REQUIRED" {
		t.Errorf("live sandbox-approve: %d %v", status, body)
	}
}

func TestPolicy(t *testing.T) {
	s := newServer(t, grantextest.Options{Policy: func(dev string, p grantex.AuthorizeParams) string {
		switch p.PrincipalID {
		case "blocked":
			return grantextest.PolicyDeny
		case "trusted":
			return grantextest.PolicyAllow
		}
		return ""
	}})
	c := newClient(t, s, grantextest.DefaultAPIKey)
	_, err := c.Authorize(context.Background(), grantex.AuthorizeParams{PrincipalID: "blocked", Scopes: []string{"r"}})
	wantAPIError(t, err, 403, "POLICY_DENIED", "")
	ar, err := c.Authorize(context.Background(), grantex.AuthorizeParams{PrincipalID: "trusted", Scopes: []string{"r"}})
	if err != nil || !ar.PolicyEnforced || ar.Effect != "allow" || ar.Code == "" || ar.Sandbox {
		t.Fatalf("allow = %+v, %v", ar, err)
	}
}

func TestPKCE(t *testing.T) {
	s := newServer(t, grantextest.Options{})
	c := newClient(t, s, grantextest.SandboxAPIKey)
	ctx := context.Background()
	verifier, challenge := pkce()
	ar, err := c.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}, CodeChallenge: challenge, CodeChallengeMethod: "S256"})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := pkce()
	tests := []struct {
		verifier, message string
	}{
		{"", "codeVerifier is required for PKCE"},
		{other, "Invalid codeVerifier"},
		{"short", "Invalid codeVerifier"},
	}
	for _, tt := range tests {
		_, err := c.ExchangeCode(ctx, ar.Code, tt.verifier)
		wantAPIError(t, err, 400, "BAD_REQUEST", tt.message)
	}
	// Failed checks roll back: the code still works with the right verifier.
	if _, err := c.ExchangeCode(ctx, ar.Code, verifier); err != nil {
		t.Fatal(err)
	}
}

func TestAuthorizeValidation(t *testing.T) {
	s := newServer(t, grantextest.Options{
		AuthorizeRateLimit: -1, // many requests; the limit has its own test
		Agents: map[string]grantextest.Agent{
			grantextest.DefaultAgentID: {Name: "Shared"},
			"ag_other":                 {Name: "Other's", DeveloperID: "dev_someone_else"},
		},
	})
	prod := newServer(t, grantextest.Options{Production: true, AuthorizeRateLimit: -1})
	_, challenge := pkce()
	base := func() map[string]any {
		return map[string]any{"agentId": grantextest.DefaultAgentID, "principalId": "u", "scopes": []string{"read"}}
	}
	with := func(k string, v any) map[string]any { m := base(); m[k] = v; return m }
	without := func(k string) map[string]any { m := base(); delete(m, k); return m }
	tests := []struct {
		name   string
		srv    *grantextest.Server
		body   any
		status int
		code   string
	}{
		{"ok", s, base(), 201, ""},
		{"empty body", s, map[string]any{}, 400, "BAD_REQUEST"},
		{"no agent", s, without("agentId"), 400, "BAD_REQUEST"},
		{"no principal", s, without("principalId"), 400, "BAD_REQUEST"},
		{"no scopes", s, without("scopes"), 400, "BAD_REQUEST"},
		{"empty scopes", s, with("scopes", []string{}), 400, "BAD_REQUEST"},
		{"blank scope", s, with("scopes", []string{" "}), 400, "BAD_REQUEST"},
		{"101 scopes", s, with("scopes", make([]string, 101)), 400, "BAD_REQUEST"},
		{"scopes not array", s, with("scopes", "read"), 400, "BAD_REQUEST"},
		{"long principal", s, with("principalId", strings.Repeat("p", 257)), 400, "BAD_REQUEST"},
		{"bad expiresIn", s, with("expiresIn", "1w"), 400, "BAD_REQUEST"},
		{"expiresIn ok", s, with("expiresIn", "30m"), 201, ""},
		{"relative redirect", s, with("redirectUri", "/cb"), 400, "BAD_REQUEST"},
		{"userinfo redirect", s, with("redirectUri", "https://u:p@app/cb"), 400, "BAD_REQUEST"},
		{"loopback redirect in dev", s, with("redirectUri", "http://127.0.0.1:3000/cb"), 201, ""},
		{"loopback redirect in production", prod, with("redirectUri", "http://127.0.0.1:3000/cb"), 400, "BAD_REQUEST"},
		{"private https in production", prod, with("redirectUri", "https://10.0.0.1/cb"), 400, "BAD_REQUEST"},
		{"localhost in production", prod, with("redirectUri", "https://localhost/cb"), 400, "BAD_REQUEST"},
		{"public https in production", prod, with("redirectUri", "https://app.example/cb"), 201, ""},
		{"long state", s, with("state", strings.Repeat("s", 1025)), 400, "BAD_REQUEST"},
		{"empty audience", s, with("audience", ""), 400, "BAD_REQUEST"},
		{"challenge without method", s, with("codeChallenge", challenge), 400, "BAD_REQUEST"},
		{"plain method", s, func() map[string]any {
			m := with("codeChallenge", challenge)
			m["codeChallengeMethod"] = "plain"
			return m
		}(), 400, "BAD_REQUEST"},
		{"short challenge", s, func() map[string]any { m := with("codeChallenge", "abc"); m["codeChallengeMethod"] = "S256"; return m }(), 400, "BAD_REQUEST"},
		{"challenge bad chars", s, func() map[string]any {
			m := with("codeChallenge", strings.Repeat("+", 43))
			m["codeChallengeMethod"] = "S256"
			return m
		}(), 400, "BAD_REQUEST"},
		{"S256", s, func() map[string]any {
			m := with("codeChallenge", challenge)
			m["codeChallengeMethod"] = "S256"
			return m
		}(), 201, ""},
		{"unknown agent", s, with("agentId", "ag_nope"), 404, "NOT_FOUND"},
		{"other developer's agent", s, with("agentId", "ag_other"), 404, "NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := call(t, tt.srv, "POST", "/v1/authorize", grantextest.DefaultAPIKey, tt.body)
			if status != tt.status || (tt.code != "" && (body["code"] != tt.code || !uuidRE.MatchString(body["requestId"].(string)))) {
				t.Errorf("status %d body %v, want %d %s", status, body, tt.status, tt.code)
			}
			if tt.status == 404 && body["message"] != "Agent not found" {
				t.Errorf("message = %v", body["message"])
			}
		})
	}
	// Non-JSON bodies are refused before validation.
	req, _ := http.NewRequest("POST", s.URL+"/v1/authorize", strings.NewReader("agentId=x"))
	req.Header.Set("Authorization", "Bearer "+grantextest.DefaultAPIKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form body: %d", resp.StatusCode)
	}
}

func TestAuthentication(t *testing.T) {
	s := newServer(t, grantextest.Options{})
	tests := []struct {
		name, header, message string
	}{
		{"missing", "", "Missing or invalid Authorization header"},
		{"basic", "Basic abc", "Missing or invalid Authorization header"},
		{"two tokens", "Bearer a b", "Missing or invalid Authorization header"},
		{"unknown key", "Bearer gx_live_unknown_key_000000", "Invalid API key"},
		{"short key", "Bearer short", "Invalid API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.URL+"/v1/tokens/verify", strings.NewReader(`{"token":"x"}`))
			req.Header.Set("Content-Type", "application/json")
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]string
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != 401 || body["code"] != "UNAUTHORIZED" || body["message"] != tt.message || !uuidRE.MatchString(body["requestId"]) {
				t.Errorf("%d %v", resp.StatusCode, body)
			}
		})
	}
	// Case-insensitive scheme and tab separator, per the service's regex.
	if status, _, _ := call(t, s, "POST", "/v1/tokens/verify", "", nil); status != 401 {
		t.Errorf("no auth: %d", status)
	}
	req, _ := http.NewRequest("POST", s.URL+"/v1/tokens/verify", strings.NewReader(`{"token":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "bEaReR\t"+grantextest.DefaultAPIKey)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("bEaReR<tab>key: %d", resp.StatusCode)
	}
	// Public routes need no key.
	for _, p := range []string{"/health", "/.well-known/jwks.json"} {
		if status, h, _ := call(t, s, "GET", p, "", nil); status != 200 || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d, Cache-Control %q", p, status, h.Get("Cache-Control"))
		}
	}
}

func TestAuthorizeRateLimit(t *testing.T) {
	clk := newClock()
	s := newServer(t, grantextest.Options{Now: clk.Now})
	body := map[string]any{"agentId": grantextest.DefaultAgentID, "principalId": "u", "scopes": []string{"r"}}
	for i := 1; i <= 10; i++ {
		clk.Advance(time.Second)
		status, h, _ := call(t, s, "POST", "/v1/authorize", grantextest.DefaultAPIKey, body)
		if status != 201 || h.Get("X-RateLimit-Limit") != "10" || h.Get("X-RateLimit-Remaining") != strconv.Itoa(10-i) {
			t.Fatalf("request %d: %d limit %s remaining %s", i, status, h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"))
		}
		// Reset is seconds until the window ends (not an epoch): 60 at the first hit.
		if reset := h.Get("X-RateLimit-Reset"); reset != strconv.Itoa(61-i) {
			t.Fatalf("request %d: reset %s, want %d", i, reset, 61-i)
		}
	}
	// The window opened at the first hit, 9 s ago.
	status, h, b := call(t, s, "POST", "/v1/authorize", grantextest.DefaultAPIKey, body)
	if status != 429 || b["code"] != "RATE_LIMITED" || b["message"] != "Rate limit exceeded, retry in 51 seconds" ||
		h.Get("Retry-After") != "51" || h.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("11th: %d %v %v", status, h, b)
	}
	// Another developer has its own bucket.
	if status, _, _ := call(t, s, "POST", "/v1/authorize", grantextest.SandboxAPIKey, body); status != 201 {
		t.Errorf("other developer: %d", status)
	}
	// The client surfaces it as a rate-limit error, without waiting 51 s.
	c := newClient(t, s, grantextest.DefaultAPIKey)
	_, err := c.Authorize(context.Background(), grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}})
	if !grantex.IsRateLimited(err) || grantex.RetryAfter(err) != 51*time.Second || grantex.ErrorCode(err) != "RATE_LIMITED" {
		t.Fatalf("client err = %v", err)
	}
	clk.Advance(51 * time.Second)
	if status, _, _ := call(t, s, "POST", "/v1/authorize", grantextest.DefaultAPIKey, body); status != 201 {
		t.Errorf("next window: %d", status)
	}
}

func TestPlanLimits(t *testing.T) {
	s := newServer(t, grantextest.Options{PlanRateLimit: 2, MaxActiveGrants: 1})
	c := newClient(t, s, grantextest.SandboxAPIKey, grantex.WithMaxAttempts(1))
	ctx := context.Background()
	ar, err := c.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExchangeCode(ctx, ar.Code, ""); err != nil {
		t.Fatal(err)
	}
	_, err = c.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}})
	wantAPIError(t, err, 429, "RATE_LIMIT_EXCEEDED", "Plan rate limit exceeded, retry in 60 seconds")
	// A fresh developer: the active-grant plan limit.
	s2 := newServer(t, grantextest.Options{MaxActiveGrants: 1})
	c2 := newClient(t, s2, grantextest.SandboxAPIKey)
	ar, _ = c2.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}})
	if _, err := c2.ExchangeCode(ctx, ar.Code, ""); err != nil {
		t.Fatal(err)
	}
	_, err = c2.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}})
	wantAPIError(t, err, 402, "PLAN_LIMIT_EXCEEDED", "")
}

func TestExchangeErrors(t *testing.T) {
	clk := newClock()
	s := newServer(t, grantextest.Options{Now: clk.Now, Agents: map[string]grantextest.Agent{
		grantextest.DefaultAgentID: {Name: "A"}, "ag_b": {Name: "B"},
	}})
	c := newClient(t, s, grantextest.SandboxAPIKey)
	ctx := context.Background()
	_, err := c.ExchangeCode(ctx, "01UNKNOWN", "")
	wantAPIError(t, err, 400, "BAD_REQUEST", "Invalid code")

	// A code is bound to its agent and developer.
	ar, _ := c.Authorize(ctx, grantex.AuthorizeParams{AgentID: "ag_b", PrincipalID: "u", Scopes: []string{"r"}})
	_, err = c.ExchangeCode(ctx, ar.Code, "")
	wantAPIError(t, err, 400, "BAD_REQUEST", "Invalid code")
	live := newClient(t, s, grantextest.DefaultAPIKey)
	ar, _ = c.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}, ExpiresIn: "1m"})
	_, err = live.ExchangeCode(ctx, ar.Code, "")
	wantAPIError(t, err, 400, "BAD_REQUEST", "Invalid code")

	clk.Advance(time.Minute)
	_, err = c.ExchangeCode(ctx, ar.Code, "")
	wantAPIError(t, err, 400, "BAD_REQUEST", "Auth request expired")

	// Missing fields.
	status, _, body := call(t, s, "POST", "/v1/token", grantextest.SandboxAPIKey, map[string]string{"code": "x"})
	if status != 400 || body["code"] != "BAD_REQUEST" {
		t.Errorf("missing agentId: %d %v", status, body)
	}
}

// TestConcurrentExchange: of many simultaneous redemptions of one code,
// exactly one succeeds.
func TestConcurrentExchange(t *testing.T) {
	s := newServer(t, grantextest.Options{})
	c := newClient(t, s, grantextest.SandboxAPIKey)
	ar, err := c.Authorize(context.Background(), grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	wins := 0
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := c.ExchangeCode(context.Background(), ar.Code, ""); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("successful redemptions = %d, want 1", wins)
	}
}

func TestRefreshErrors(t *testing.T) {
	clk := newClock()
	s := newServer(t, grantextest.Options{Now: clk.Now, Agents: map[string]grantextest.Agent{
		grantextest.DefaultAgentID: {Name: "A"}, "ag_b": {Name: "B"},
	}})
	c := newClient(t, s, grantextest.SandboxAPIKey)
	ctx := context.Background()
	ar, _ := c.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}, ExpiresIn: "1h"})
	tok, err := c.ExchangeCode(ctx, ar.Code, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.RefreshToken(ctx, "ref_unknown")
	wantAPIError(t, err, 400, "BAD_REQUEST", "Invalid refresh token")
	other, _ := s.NewClient(grantextest.SandboxAPIKey, "ag_b")
	_, err = other.RefreshToken(ctx, tok.RefreshToken)
	wantAPIError(t, err, 400, "BAD_REQUEST", "Agent mismatch")
	live := newClient(t, s, grantextest.DefaultAPIKey)
	_, err = live.RefreshToken(ctx, tok.RefreshToken)
	wantAPIError(t, err, 400, "BAD_REQUEST", "Invalid refresh token")
	// The refresh token lives as long as the grant (min(30 d, grant expiry)).
	clk.Advance(time.Hour)
	_, err = c.RefreshToken(ctx, tok.RefreshToken)
	wantAPIError(t, err, 400, "BAD_REQUEST", "Refresh token expired")
}

// TestGrantRevocationCascade: DELETE /v1/grants/:id revokes the grant, its
// tokens, refresh tokens and delegated descendants (§1.7, §2.2).
func TestGrantRevocationCascade(t *testing.T) {
	s := newServer(t, grantextest.Options{Agents: map[string]grantextest.Agent{
		grantextest.DefaultAgentID: {Name: "Root"}, "ag_sub": {Name: "Sub"},
	}})
	c := newClient(t, s, grantextest.SandboxAPIKey)
	ctx := context.Background()
	ar, _ := c.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r", "w"}})
	root, err := c.ExchangeCode(ctx, ar.Code, "")
	if err != nil {
		t.Fatal(err)
	}
	status, _, child := call(t, s, "POST", "/v1/grants/delegate", grantextest.SandboxAPIKey,
		map[string]any{"parentGrantToken": root.GrantToken, "subAgentId": "ag_sub", "scopes": []string{"r"}})
	if status != 201 {
		t.Fatalf("delegate: %d %v", status, child)
	}
	childToken := child["grantToken"].(string)

	if err := c.RevokeGrant(ctx, root.GrantID); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"root": root.GrantToken, "child": childToken} {
		if v, err := c.VerifyToken(ctx, tok); err != nil || v.Valid {
			t.Errorf("%s after grant revoke: %+v, %v", name, v, err)
		}
	}
	_, err = c.RefreshToken(ctx, root.RefreshToken)
	wantAPIError(t, err, 400, "BAD_REQUEST", "Grant has been revoked")
	sub, _ := s.NewClient(grantextest.SandboxAPIKey, "ag_sub")
	_, err = sub.RefreshToken(ctx, child["refreshToken"].(string))
	wantAPIError(t, err, 400, "BAD_REQUEST", "Grant has been revoked")

	status, _, g := call(t, s, "GET", "/v1/grants/"+child["grantId"].(string), grantextest.SandboxAPIKey, nil)
	if status != 200 || g["status"] != "revoked" || g["revokedAt"] == nil {
		t.Errorf("child grant: %d %v", status, g)
	}
	// Again: 404 on the wire, success for the client.
	if status, _, b := call(t, s, "DELETE", "/v1/grants/"+root.GrantID, grantextest.SandboxAPIKey, nil); status != 404 || b["code"] != "NOT_FOUND" {
		t.Errorf("second DELETE: %d %v", status, b)
	}
	if err := c.RevokeGrant(ctx, root.GrantID); err != nil {
		t.Errorf("client second revoke: %v", err)
	}
	// Another developer cannot see or revoke grants.
	if status, _, _ := call(t, s, "DELETE", "/v1/grants/"+root.GrantID, grantextest.DefaultAPIKey, nil); status != 404 {
		t.Errorf("foreign DELETE: %d", status)
	}
}

func TestDelegation(t *testing.T) {
	clk := newClock()
	s := newServer(t, grantextest.Options{Now: clk.Now, MaxDelegationDepth: 2, Agents: map[string]grantextest.Agent{
		grantextest.DefaultAgentID: {Name: "Root"}, "ag_sub": {Name: "Sub"}, "ag_sub2": {Name: "Sub2"}, "ag_sub3": {Name: "Sub3"},
	}})
	c := newClient(t, s, grantextest.SandboxAPIKey)
	ctx := context.Background()
	ar, _ := c.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "alice", Scopes: []string{"r", "w"}, Audience: "https://mcp", ExpiresIn: "30m"})
	root, err := c.ExchangeCode(ctx, ar.Code, "")
	if err != nil {
		t.Fatal(err)
	}
	delegate := func(parent, sub string, scopes []string, key string) (int, map[string]any) {
		status, _, body := call(t, s, "POST", "/v1/grants/delegate", key,
			map[string]any{"parentGrantToken": parent, "subAgentId": sub, "scopes": scopes})
		return status, body
	}
	status, d1 := delegate(root.GrantToken, "ag_sub", []string{"r"}, grantextest.SandboxAPIKey)
	if status != 201 || !strings.HasPrefix(d1["refreshToken"].(string), "ref_") {
		t.Fatalf("delegate: %d %v", status, d1)
	}
	_, claims := parseToken(t, s, d1["grantToken"].(string))
	want := map[string]any{
		"sub": "alice", "agt": "did:grantex:ag_sub", "parentAgt": "did:grantex:" + grantextest.DefaultAgentID,
		"parentGrnt": root.GrantID, "delegationDepth": float64(1), "grnt": d1["grantId"],
		// min(parent exp = now+30m, now + default 1h)
		"exp": float64(clk.Now().Add(30 * time.Minute).Unix()),
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if _, ok := claims["aud"]; ok {
		t.Error("delegated token kept aud")
	}
	if v, err := c.VerifyToken(ctx, d1["grantToken"].(string)); err != nil || !v.Valid || v.Agent != "did:grantex:ag_sub" {
		t.Errorf("verify delegated: %+v, %v", v, err)
	}

	if status, b := delegate(root.GrantToken, "ag_sub", []string{"r", "admin"}, grantextest.SandboxAPIKey); status != 400 || b["code"] != "BAD_REQUEST" {
		t.Errorf("scope escalation: %d %v", status, b)
	}
	if status, b := delegate(root.GrantToken, "ag_nope", []string{"r"}, grantextest.SandboxAPIKey); status != 404 {
		t.Errorf("unknown sub-agent: %d %v", status, b)
	}
	if status, b := delegate(root.GrantToken, "ag_sub", []string{"r"}, grantextest.DefaultAPIKey); status != 403 || b["code"] != "FORBIDDEN" {
		t.Errorf("foreign developer: %d %v", status, b)
	}
	if status, b := delegate("not.a.jwt", "ag_sub", []string{"r"}, grantextest.SandboxAPIKey); status != 400 {
		t.Errorf("garbage parent: %d %v", status, b)
	}
	status, d2 := delegate(d1["grantToken"].(string), "ag_sub2", []string{"r"}, grantextest.SandboxAPIKey)
	if status != 201 {
		t.Fatalf("depth 2: %d %v", status, d2)
	}
	if _, c2 := parseToken(t, s, d2["grantToken"].(string)); c2["delegationDepth"] != float64(2) || c2["parentGrnt"] != d1["grantId"] {
		t.Errorf("depth-2 claims: %v", c2)
	}
	if status, b := delegate(d2["grantToken"].(string), "ag_sub3", []string{"r"}, grantextest.SandboxAPIKey); status != 403 || b["code"] != "DELEGATION_DEPTH_EXCEEDED" {
		t.Errorf("depth 3 of max 2: %d %v", status, b)
	}
	// Delegated refresh keeps the delegation claims.
	sub, _ := s.NewClient(grantextest.SandboxAPIKey, "ag_sub")
	r1, err := sub.RefreshToken(ctx, d1["refreshToken"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, rc := parseToken(t, s, r1.GrantToken); rc["delegationDepth"] != float64(1) || rc["parentGrnt"] != root.GrantID {
		t.Errorf("refreshed delegated claims: %v", rc)
	}
	// Revoking the middle grant kills its subtree, not its parent.
	if err := c.RevokeGrant(ctx, d1["grantId"].(string)); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.VerifyToken(ctx, d2["grantToken"].(string)); v.Valid {
		t.Error("grandchild valid after revoking its parent")
	}
	if v, _ := c.VerifyToken(ctx, root.GrantToken); !v.Valid {
		t.Error("root invalid after revoking a child")
	}
}

func TestJWKSAndHealth(t *testing.T) {
	s := newServer(t, grantextest.Options{Now: newClock().Now})
	status, h, body := call(t, s, "GET", "/.well-known/jwks.json", "", nil)
	if status != 200 || h.Get("Cache-Control") != "no-store" || h.Get("X-RateLimit-Limit") != "" {
		t.Fatalf("jwks: %d %v", status, h)
	}
	keys := body["keys"].([]any)
	rsaKey := keys[0].(map[string]any)
	if rsaKey["kty"] != "RSA" || rsaKey["alg"] != "RS256" || rsaKey["use"] != "sig" || rsaKey["kid"] != "grantex-2026-08" || s.KeyID() != "grantex-2026-08" {
		t.Errorf("RSA key = %v", rsaKey)
	}
	if len(keys) != 2 || keys[1].(map[string]any)["kty"] != "OKP" || keys[1].(map[string]any)["alg"] != "EdDSA" {
		t.Errorf("want the EdDSA key the real service also publishes: %v", keys)
	}
	s2 := newServer(t, grantextest.Options{OmitEd25519Key: true})
	if _, _, b := call(t, s2, "GET", "/.well-known/jwks.json", "", nil); len(b["keys"].([]any)) != 1 {
		t.Errorf("OmitEd25519Key: %v", b)
	}
	if status, _, b := call(t, s, "GET", "/health", "", nil); status != 200 || b["status"] != "healthy" {
		t.Errorf("health: %d %v", status, b)
	}
	if status, _, b := call(t, s, "GET", "/v1/nope", grantextest.DefaultAPIKey, nil); status != 404 || b["code"] != "NOT_FOUND" {
		t.Errorf("unknown route: %d %v", status, b)
	}
	if status, _, _ := call(t, s, "PUT", "/v1/token", grantextest.DefaultAPIKey, map[string]string{}); status != 404 {
		t.Errorf("wrong method: %d, want 404 as in Fastify", status)
	}
}

func TestVerifyRejects(t *testing.T) {
	s := newServer(t, grantextest.Options{Issuer: "https://grantex.dev"})
	other := newServer(t, grantextest.Options{Issuer: "https://grantex.dev", Key: mustKey(t)})
	c := newClient(t, s, grantextest.SandboxAPIKey)
	oc := newClient(t, other, grantextest.SandboxAPIKey)
	ctx := context.Background()
	ar, _ := oc.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}})
	foreign, err := oc.ExchangeCode(ctx, ar.Code, "")
	if err != nil {
		t.Fatal(err)
	}
	// An HS256 token and a "none" token.
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	hsTok, _ := jwt.Signed(hs).Claims(map[string]any{"sub": "u", "iss": "https://grantex.dev"}).Serialize()
	for name, tok := range map[string]string{
		"garbage": "not.a.jwt", "other server's key": foreign.GrantToken, "HS256": hsTok,
		"alg none": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.",
	} {
		if v, err := c.VerifyToken(ctx, tok); err != nil || v.Valid {
			t.Errorf("%s: %+v, %v", name, v, err)
		}
	}
	if status, _, b := call(t, s, "POST", "/v1/tokens/verify", grantextest.DefaultAPIKey, map[string]string{}); status != 400 || b["code"] != "BAD_REQUEST" {
		t.Errorf("missing token: %d %v", status, b)
	}
}

func mustKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestFaultInjection: counters and injected failures behave as documented.
func TestFaultInjection(t *testing.T) {
	s := newServer(t, grantextest.Options{})
	c := newClient(t, s, grantextest.DefaultAPIKey, grantex.WithMaxAttempts(1))
	ctx := context.Background()

	s.FailNext("/v1/tokens/verify", 503)
	_, err := c.VerifyToken(ctx, "x")
	wantAPIError(t, err, 503, "INTERNAL_ERROR", "An unexpected error occurred")
	if _, err := c.VerifyToken(ctx, "x"); err != nil {
		t.Errorf("second call: %v", err)
	}
	if n := s.Requests("/v1/tokens/verify"); n != 2 {
		t.Errorf("Requests = %d, want 2", n)
	}

	s.Inject("/", 2, grantextest.Fault{Status: 429, Code: "RATE_LIMITED", Message: "slow", RetryAfter: 3 * time.Second})
	_, err = c.VerifyToken(ctx, "x")
	wantAPIError(t, err, 429, "RATE_LIMITED", "slow")
	if grantex.RetryAfter(err) != 3*time.Second {
		t.Errorf("RetryAfter = %v", grantex.RetryAfter(err))
	}
	if status, _, _ := call(t, s, "GET", "/health", "", nil); status != 429 {
		t.Errorf("prefix rule did not match /health: %d", status)
	}
	if status, _, _ := call(t, s, "GET", "/health", "", nil); status != 200 {
		t.Errorf("rule not consumed: %d", status)
	}

	s.Inject("/v1/tokens/verify", 1, grantextest.Fault{Status: 502, Body: "<html>bad gateway</html>"})
	_, err = c.VerifyToken(ctx, "x")
	if e, ok := errors.AsType[*grantex.APIError](err); !ok || e.StatusCode != 502 || e.Code != "" {
		t.Errorf("HTML 502: %v", err)
	}

	s.HangNext("/v1/tokens/verify")
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.VerifyToken(tctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang: %v", err)
	}

	s.Inject("/v1/tokens/verify", 1, grantextest.Fault{Drop: true})
	if _, err := c.VerifyToken(ctx, "x"); !grantex.IsOutcomeUnknown(err) {
		t.Errorf("drop: %v", err)
	}
}

// TestHangReleasedOnClose: Close does not block on a hanging request.
func TestHangReleasedOnClose(t *testing.T) {
	s := grantextest.NewServer(grantextest.Options{Key: testKey()})
	s.HangNext("/health")
	done := make(chan error, 1)
	go func() {
		resp, err := s.Client().Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for s.Requests("/health") == 0 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a hanging request")
	}
	<-done
}

// TestHandlerMountedElsewhere: Handler serves under a prefix with
// PublicURL set, and the consent forms' relative actions still resolve.
func TestHandlerMountedElsewhere(t *testing.T) {
	inner := newServer(t, grantextest.Options{PublicURL: "http://proxied.example/grantex"})
	mux := http.NewServeMux()
	mux.Handle("/grantex/", http.StripPrefix("/grantex", inner.Handler()))
	outer := newHTTPServer(t, mux)
	c, err := grantex.New(outer+"/grantex", grantextest.DefaultAPIKey, grantextest.DefaultAgentID)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := c.Authorize(context.Background(), grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}, RedirectURI: "https://app/cb"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ar.ConsentURL, "http://proxied.example/grantex/consent?req=") {
		t.Fatalf("consentUrl = %s", ar.ConsentURL)
	}
	consentURL := outer + strings.TrimPrefix(ar.ConsentURL, "http://proxied.example")
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(consentURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	base, _ := url.Parse(consentURL)
	action, _ := base.Parse("consent/approve")
	resp, err = browser.PostForm(action.String(), url.Values{"req": {ar.AuthRequestID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "https://app/cb?code=") {
		t.Fatalf("approve under prefix: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestTLS(t *testing.T) {
	s := newServer(t, grantextest.Options{TLS: true})
	if !strings.HasPrefix(s.URL, "https://") || s.Issuer() != s.URL {
		t.Fatalf("URL %s issuer %s", s.URL, s.Issuer())
	}
	c := newClient(t, s, grantextest.SandboxAPIKey)
	if _, err := c.Authorize(context.Background(), grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}}); err != nil {
		t.Fatal(err)
	}
}

func TestNewServerRejectsShortKeys(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewServer accepted a 5-character API key")
		}
	}()
	grantextest.NewServer(grantextest.Options{Key: testKey(), APIKeys: map[string]grantextest.Developer{"short": {ID: "dev"}}})
}

func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
