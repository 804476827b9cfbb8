package mcpauth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
)

// e2eServer starts a Server on a loopback httptest server whose URL is the
// issuer.
func e2eServer(t testing.TB, mutate func(*mcpauth.Config)) (*mcpauth.Server, *httptest.Server) {
	t.Helper()
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	hash, err := mcpauth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	cfg := mcpauth.Config{
		Issuer:     ts.URL,
		Scopes:     []string{"tools:read", "tools:execute"},
		Users:      []mcpauth.PasswordUser{{Username: "alice", PasswordHash: hash}},
		Resources:  []string{ts.URL + "/mcp"},
		RateLimits: &limits.RateLimits{Disabled: true},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := mcpauth.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	h = srv
	return srv, ts
}

// e2eBrowser follows redirects with a cookie jar, like a browser, and stops
// at the client's redirect URI.
type e2eBrowser struct {
	t        testing.TB
	client   *http.Client
	callback *url.URL
}

func newE2EBrowser(t testing.TB, redirectPrefix string) *e2eBrowser {
	jar, _ := cookiejar.New(nil)
	b := &e2eBrowser{t: t}
	b.client = &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirectPrefix) {
			b.callback = r.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)

// submit posts the page's form with its hidden inputs plus extra fields.
func (b *e2eBrowser) submit(page, action string, extra url.Values) string {
	b.t.Helper()
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], m[2])
	}
	for k, v := range extra {
		form[k] = v
	}
	resp, err := b.client.PostForm(action, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func (b *e2eBrowser) get(u string) string {
	b.t.Helper()
	resp, err := b.client.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func postForm(t testing.TB, u string, v url.Values, id, secret string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// TestEndToEndOAuth2 drives golang.org/x/oauth2 through DCR → login and
// consent (posting the real forms) → token → refresh → introspect → revoke.
func TestEndToEndOAuth2(t *testing.T) {
	// The reuse below comes right after the rotation, on the real clock:
	// no retry window, so it is reuse (the window is tested in token_test).
	_, ts := e2eServer(t, func(c *mcpauth.Config) { c.RefreshRetryWindow = -1 })
	ctx := context.Background()
	const redirect = "http://127.0.0.1:9999/callback"
	resource := ts.URL + "/mcp"

	// Discovery (RFC 8414).
	resp, err := http.Get(ts.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var meta mcpauth.ServerMetadata
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil || meta.Issuer != ts.URL {
		t.Fatalf("metadata: %v, issuer %q", err, meta.Issuer)
	}
	resp.Body.Close()

	// Dynamic client registration (RFC 7591).
	resp, err = http.Post(meta.RegistrationEndpoint, "application/json", strings.NewReader(
		`{"redirect_uris":["`+redirect+`"],"grant_types":["authorization_code","refresh_token"],"client_name":"E2E client","token_endpoint_auth_method":"client_secret_basic"}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&reg) != nil || reg.ClientSecret == "" {
		t.Fatalf("register: status %d, %+v", resp.StatusCode, reg)
	}
	resp.Body.Close()

	conf := &oauth2.Config{
		ClientID: reg.ClientID, ClientSecret: reg.ClientSecret, RedirectURL: redirect, Scopes: []string{"tools:read"},
		Endpoint: oauth2.Endpoint{AuthURL: meta.AuthorizationEndpoint, TokenURL: meta.TokenEndpoint, AuthStyle: oauth2.AuthStyleInHeader},
	}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("xyz-state", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", resource))

	// The browser: sign in, then approve on the consent page.
	br := newE2EBrowser(t, redirect)
	login := br.get(authURL)
	if !strings.Contains(login, `name="password"`) {
		t.Fatalf("expected the login page, got %.300s", login)
	}
	consent := br.submit(login, ts.URL+"/login", url.Values{"username": {"alice"}, "password": {"correct horse"}})
	for _, want := range []string{"E2E client", "127.0.0.1:9999", "tools:read", resource} {
		if !strings.Contains(consent, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	br.submit(consent, ts.URL+"/consent", url.Values{"decision": {"approve"}})
	if br.callback == nil {
		t.Fatal("consent did not redirect to the client")
	}
	q := br.callback.Query()
	if q.Get("state") != "xyz-state" || q.Get("iss") != ts.URL || q.Get("code") == "" {
		t.Fatalf("callback %s: want code, state and iss (RFC 9207)", br.callback)
	}

	// Token (PKCE verifier and resource).
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", resource))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.TokenType != "Bearer" || time.Until(tok.Expiry) < 50*time.Minute {
		t.Fatalf("token: %+v", tok)
	}

	// Refresh: rotation on every use.
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Hour)
	tok2, err := conf.TokenSource(ctx, &stale).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.RefreshToken == tok.RefreshToken || tok2.AccessToken == tok.AccessToken {
		t.Fatal("refresh did not rotate the tokens")
	}

	// Introspect (RFC 7662), revoke (RFC 7009), introspect again.
	_, intro := postForm(t, meta.IntrospectionEndpoint, url.Values{"token": {tok2.AccessToken}}, reg.ClientID, reg.ClientSecret)
	if intro["active"] != true || intro["sub"] != "alice" || intro["scope"] != "tools:read" || intro["client_id"] != reg.ClientID {
		t.Fatalf("introspection of a live token: %v", intro)
	}
	if code, _ := postForm(t, meta.RevocationEndpoint, url.Values{"token": {tok2.AccessToken}}, reg.ClientID, reg.ClientSecret); code != http.StatusOK {
		t.Fatalf("revoke: status %d", code)
	}
	_, intro = postForm(t, meta.IntrospectionEndpoint, url.Values{"token": {tok2.AccessToken}}, reg.ClientID, reg.ClientSecret)
	if intro["active"] != false {
		t.Fatalf("introspection after revocation: %v", intro)
	}

	// Reusing the rotated refresh token ends the whole grant.
	stale.Expiry = time.Now().Add(-time.Hour)
	if _, err := conf.TokenSource(ctx, &stale).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("reuse of a rotated refresh token: %v, want invalid_grant", err)
	}
	_, intro = postForm(t, meta.IntrospectionEndpoint, url.Values{"token": {tok2.RefreshToken}}, reg.ClientID, reg.ClientSecret)
	if intro["active"] != false {
		t.Fatalf("the grant survived refresh token reuse: %v", intro)
	}
}
