// Package flowtest runs a full OAuth 2.1 login against an MCP server
// mounted on a router, as an MCP client would (mcpauth.Server signs in with
// mcpauthtest.AutoApprove), and checks every answer's status: a router that
// pre-sets a status (gin's NoRoute) must not change any of them.
package flowtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Login runs discovery, registration, authorization, the token exchange,
// a refresh and an authorized MCP call against base (the issuer, with the
// MCP endpoint at base/mcp), and fetches the JWK Set and the stylesheet.
func Login(t *testing.T, base string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	mcpURL := base + "/mcp"

	// An MCP request without a token: 401 naming the resource metadata.
	resp := do(t, c, http.MethodPost, mcpURL, "application/json", `{}`, nil, http.StatusUnauthorized)
	if !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Fatalf("401 without resource_metadata: %q", resp.Header.Get("WWW-Authenticate"))
	}
	// A browser client's preflight: 204, not 401 (mcpauth.MCPCORS).
	do(t, c, http.MethodOptions, mcpURL, "", "", http.Header{
		"Origin": {"https://inspector.example"}, "Access-Control-Request-Method": {"POST"},
	}, http.StatusNoContent)
	// Discovery (RFC 9728, RFC 8414), keys and the stylesheet.
	prm := decode(t, do(t, c, http.MethodGet, base+"/.well-known/oauth-protected-resource/mcp", "", "", nil, http.StatusOK))
	if as, _ := prm["authorization_servers"].([]any); len(as) != 1 || as[0] != base {
		t.Fatalf("protected resource metadata: %v", prm)
	}
	meta := decode(t, do(t, c, http.MethodGet, base+"/.well-known/oauth-authorization-server", "", "", nil, http.StatusOK))
	do(t, c, http.MethodGet, meta["jwks_uri"].(string), "", "", nil, http.StatusOK)
	do(t, c, http.MethodGet, base+"/assets/style.css", "", "", nil, http.StatusOK)

	// Registration (RFC 7591).
	const redirect = "http://127.0.0.1:9/callback"
	reg := decode(t, do(t, c, http.MethodPost, meta["registration_endpoint"].(string), "application/json",
		`{"redirect_uris":["`+redirect+`"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"client_name":"router example"}`, nil, http.StatusCreated))
	clientID := reg["client_id"].(string)

	// Authorization with PKCE: auto-approved, straight back with a code.
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"xyz"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": {mcpURL}, "scope": {"tools:read"},
	}
	resp = do(t, c, http.MethodGet, meta["authorization_endpoint"].(string)+"?"+q.Encode(), "", "", nil, http.StatusFound)
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Query().Get("code") == "" || back.Query().Get("state") != "xyz" || back.Query().Get("iss") != base {
		t.Fatalf("authorization response: %s", resp.Header.Get("Location"))
	}

	// Token exchange, an MCP call with the token, a refresh.
	form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "code_verifier": {verifier},
		"client_id": {clientID}, "redirect_uri": {redirect}, "resource": {mcpURL}}
	tok := decode(t, do(t, c, http.MethodPost, meta["token_endpoint"].(string), "application/x-www-form-urlencoded", form.Encode(), nil, http.StatusOK))
	access, _ := tok["access_token"].(string)
	refresh, _ := tok["refresh_token"].(string)
	if access == "" || refresh == "" {
		t.Fatalf("token response: %v", tok)
	}
	bearer := http.Header{"Authorization": {"Bearer " + access}}
	body := decode(t, do(t, c, http.MethodPost, mcpURL, "application/json", `{}`, bearer, http.StatusOK))
	if body["sub"] != "example-user" {
		t.Fatalf("MCP endpoint saw %v", body)
	}
	form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {clientID}}
	do(t, c, http.MethodPost, meta["token_endpoint"].(string), "application/x-www-form-urlencoded", form.Encode(), nil, http.StatusOK)
}

func do(t *testing.T, c *http.Client, method, u, contentType, body string, hdr http.Header, want int) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d (body %.300s)", method, u, resp.StatusCode, want, b)
	}
	return resp
}

func decode(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: %v", resp.Request.URL, err)
	}
	return m
}
