package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/authn/oidc"
	"github.com/mcpauth/mcpauth/internal/testop"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/store"
)

// clientRedirect is the MCP client's redirect URI; nothing listens there:
// the browser stops before following it.
const clientRedirect = "http://127.0.0.1:1/callback"

// env is our authorization server with one OIDC sign-in provider.
type env struct {
	t    *testing.T
	srv  *httptest.Server
	auth *oidc.Authenticator
}

// newEnv starts our server (not yet its provider): mutate tweaks the
// authenticator's Config, issuer is the provider.
func newEnv(t *testing.T, issuer func(redirect string) string, mutate func(*oidc.Config), server ...func(*mcpauth.Config)) *env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	key := make([]byte, 32)
	rand.Read(key)
	cfg := oidc.Config{Issuer: issuer(base + "/oidc/callback"), ClientID: testop.ClientID, ClientSecret: testop.ClientSecret,
		RedirectURL: base + "/oidc/callback", CookieKey: key}
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sc := mcpauth.Config{
		Issuer: base, Scopes: []string{"tools:read", "tools:execute"},
		SignInProviders: []mcpauth.SignInProvider{{Name: "Zitadel", Authenticator: a}},
		StaticClients:   []store.Client{{ID: "app", ClientMetadata: store.ClientMetadata{Name: "App", RedirectURIs: []string{clientRedirect}, TokenEndpointAuthMethod: "none"}}},
		RateLimits:      &limits.RateLimits{Disabled: true},
	}
	for _, f := range server {
		f(&sc)
	}
	as, err := mcpauth.NewServer(sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	mux := http.NewServeMux()
	mux.Handle("/", as)
	mux.Handle(a.CallbackPath(), a)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, auth: a}
}

// browser is an http.Client with a cookie jar that asks for HTML and stops
// at the MCP client's redirect URI (and, when stopAt is set, at that path).
type browser struct {
	t      *testing.T
	c      *http.Client
	stopAt string
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t}
	b.c = &http.Client{Jar: jar, Transport: acceptHTML{}, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), clientRedirect) || (b.stopAt != "" && req.URL.Path == b.stopAt) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

type acceptHTML struct{}

func (acceptHTML) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept", "text/html")
	return http.DefaultTransport.RoundTrip(r)
}

// page is one answer: status, final URL, Location and body.
type page struct {
	status   int
	url      *url.URL
	location string
	body     string
}

func (b *browser) do(method, u string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, url: resp.Request.URL, location: resp.Header.Get("Location"), body: string(raw)}
}

func (b *browser) get(u string) page { return b.do(http.MethodGet, u, nil) }

var (
	reContinue = regexp.MustCompile(`<a class="button" href="([^"]+)">Continue with ([^<]+)</a>`)
	reHidden   = regexp.MustCompile(`name="(req|csrf|id)" value="([^"]*)"`)
)

func hidden(t *testing.T, body string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range reHidden.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// pkce returns a verifier and its S256 challenge (RFC 7636 §4.2).
func pkce() (string, string) {
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(v))
	return v, base64.RawURLEncoding.EncodeToString(sum[:])
}

func (e *env) authorizeURL(challenge, scope string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {clientRedirect}, "state": {"xyz"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	if scope != "" {
		q.Set("scope", scope)
	}
	return e.srv.URL + "/authorize?" + q.Encode()
}

// toProvider opens the authorization URL and clicks "Continue with …":
// the provider's login page.
func (e *env) toProvider(b *browser, challenge, scope string) page {
	e.t.Helper()
	login := b.get(e.authorizeURL(challenge, scope))
	if login.status != http.StatusOK || login.url.Path != "/login" {
		e.t.Fatalf("authorize: %d at %s, want our login page:\n%s", login.status, login.url, login.body)
	}
	if strings.Contains(login.body, `name="password"`) {
		e.t.Fatalf("login page shows a password form with no Users:\n%s", login.body)
	}
	m := reContinue.FindStringSubmatch(login.body)
	if m == nil || m[2] != "Zitadel" {
		e.t.Fatalf("login page has no Continue with Zitadel:\n%s", login.body)
	}
	return b.get(e.srv.URL + html.UnescapeString(m[1]))
}

// signInAtOP fills the provider's login form.
func signInAtOP(t *testing.T, b *browser, op page, username string) page {
	t.Helper()
	if op.status != http.StatusOK || !strings.Contains(op.body, `name="password"`) {
		t.Fatalf("provider login: %d at %s:\n%s", op.status, op.url, op.body)
	}
	form := hidden(t, op.body)
	form.Set("username", username)
	form.Set("password", testop.Password)
	return b.do(http.MethodPost, op.url.Scheme+"://"+op.url.Host+"/login/username", form)
}

// approve posts our consent page and returns the client's code.
func (e *env) approve(b *browser, consent page) string {
	e.t.Helper()
	if consent.status != http.StatusOK || consent.url.Path != "/consent" {
		e.t.Fatalf("want our consent page, got %d at %s:\n%s", consent.status, consent.url, consent.body)
	}
	form := hidden(e.t, consent.body)
	form.Set("decision", "approve")
	resp := b.do(http.MethodPost, e.srv.URL+"/consent", form)
	loc, err := url.Parse(resp.location)
	if resp.status != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		e.t.Fatalf("consent: %d %q:\n%s", resp.status, resp.location, resp.body)
	}
	return loc.Query().Get("code")
}

// token redeems code and returns the access token's claims.
func (e *env) token(code, verifier string) map[string]any {
	e.t.Helper()
	resp, err := http.PostForm(e.srv.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {clientRedirect}, "client_id": {"app"}, "code_verifier": {verifier}})
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	claims := map[string]any{}
	_ = json.Unmarshal(raw, &claims)
	return claims
}

// TestJourneyZitadel is the whole sign-in at a real OpenID provider (zitadel
// op): authorization URL → our login page → Continue with … → provider
// login → our callback → our consent → code → token.
func TestJourneyZitadel(t *testing.T) {
	var op *testop.OP
	e := newEnv(t, func(redirect string) string {
		op = testop.Start(t, []string{redirect})
		return op.Issuer
	}, func(c *oidc.Config) { c.AllowedDomains = []string{"Example.com"} })
	b := newBrowser(t)
	verifier, challenge := pkce()
	consent := signInAtOP(t, b, e.toProvider(b, challenge, ""), "alice")
	if !strings.Contains(consent.body, "Alice Liddell") {
		t.Errorf("consent page does not name the user:\n%s", consent.body)
	}
	claims := e.token(e.approve(b, consent), verifier)
	if want := op.Issuer + "#alice-id"; claims["sub"] != want {
		t.Errorf("sub = %v, want %q (namespaced by the upstream issuer)", claims["sub"], want)
	}
	if claims["scope"] != "tools:read tools:execute" {
		t.Errorf("scope = %v", claims["scope"])
	}

	// Signed in: a second authorization goes straight to consent.
	v2, c2 := pkce()
	again := b.get(e.authorizeURL(c2, "tools:read"))
	e.token(e.approve(b, again), v2)
}

// TestScopesFor maps claims to the scopes a user may be granted.
func TestScopesFor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scopes  []string
		granted string // "" → refused at sign-in
	}{
		{"narrowed", []string{"tools:read"}, "tools:read"},
		{"none", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen oidc.Claims
			e := newEnv(t, func(redirect string) string { return testop.Start(t, []string{redirect}).Issuer },
				func(c *oidc.Config) {
					c.ScopesFor = func(cl oidc.Claims) []string { seen = cl; return tc.scopes }
				})
			b := newBrowser(t)
			verifier, challenge := pkce()
			consent := signInAtOP(t, b, e.toProvider(b, challenge, "tools:read tools:execute"), "alice")
			if seen.Subject != "alice-id" || seen.Email != "alice@example.com" || !seen.EmailVerified || seen.Name != "Alice Liddell" {
				t.Errorf("claims = %+v", seen)
			}
			if tc.granted == "" {
				if consent.status != http.StatusForbidden || !strings.Contains(consent.body, "access_denied") {
					t.Fatalf("got %d:\n%s", consent.status, consent.body)
				}
				return
			}
			if strings.Contains(consent.body, "tools:execute") {
				t.Errorf("consent page offers a scope the user may not be granted:\n%s", consent.body)
			}
			if got := e.token(e.approve(b, consent), verifier)["scope"]; got != tc.granted {
				t.Errorf("scope = %v, want %q", got, tc.granted)
			}
		})
	}
}

// TestGrantPolicySeesClaims: the provider's claims reach Config.GrantPolicy,
// which maps them to scopes (here: only example.com e-mails may execute).
func TestGrantPolicySeesClaims(t *testing.T) {
	var seen map[string]any
	e := newEnv(t, func(redirect string) string { return testop.Start(t, []string{redirect}).Issuer }, nil,
		func(c *mcpauth.Config) {
			c.GrantPolicy = func(_ context.Context, req mcpauth.GrantRequest) ([]string, error) {
				seen = req.User.Claims
				if req.User.Claims["email_verified"] == true && strings.HasSuffix(fmt.Sprint(req.User.Claims["email"]), "@elsewhere.test") {
					return []string{"tools:read", "tools:execute"}, nil
				}
				return []string{"tools:read"}, nil
			}
		})
	b := newBrowser(t)
	verifier, challenge := pkce()
	consent := signInAtOP(t, b, e.toProvider(b, challenge, "tools:read tools:execute"), "alice")
	if seen["email"] != "alice@example.com" || seen["email_verified"] != true || seen["name"] != "Alice Liddell" || seen["iss"] == "" {
		t.Errorf("claims seen by the policy = %v", seen)
	}
	if got := e.token(e.approve(b, consent), verifier)["scope"]; got != "tools:read" {
		t.Errorf("scope = %v, want tools:read (the policy's mapping)", got)
	}
}

// TestAllowLists: verified e-mails in an allowed domain, or allowed
// subjects; everyone else gets our own 403 page.
func TestAllowLists(t *testing.T) {
	unverified := testop.User{ID: "mallory-id", Username: "mallory", Email: "mallory@example.com", First: "Mallory", Last: "M"}
	outsider := testop.User{ID: "oscar-id", Username: "oscar", Email: "oscar@elsewhere.test", EmailVerified: true, First: "Oscar", Last: "O"}
	for _, tc := range []struct {
		name     string
		user     string
		domains  []string
		subjects []string
		want     string // error code on our page, "" → admitted
	}{
		{"verified in domain", "alice", []string{"example.com"}, nil, ""},
		{"unverified in domain", "mallory", []string{"example.com"}, nil, "unverified_email"},
		{"other domain", "oscar", []string{"example.com"}, nil, "access_denied"},
		{"allowed subject", "oscar", []string{"example.com"}, []string{"oscar-id"}, ""},
		{"subject list only", "alice", nil, []string{"oscar-id"}, "access_denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(redirect string) string {
				return testop.Start(t, []string{redirect}, testop.Alice, unverified, outsider).Issuer
			}, func(c *oidc.Config) { c.AllowedDomains, c.AllowedSubjects = tc.domains, tc.subjects })
			b := newBrowser(t)
			_, challenge := pkce()
			got := signInAtOP(t, b, e.toProvider(b, challenge, ""), tc.user)
			if tc.want == "" {
				if got.status != http.StatusOK || got.url.Path != "/consent" {
					t.Fatalf("want consent, got %d at %s:\n%s", got.status, got.url, got.body)
				}
				return
			}
			assertErrorPage(t, got, http.StatusForbidden, tc.want)
			// Back to sign-in: the pending request's login page, where another account or provider can be chosen.
			m := regexp.MustCompile(`<a href="([^"]+)">Back to sign-in</a>`).FindStringSubmatch(got.body)
			if m == nil {
				t.Fatalf("no way back to sign-in:\n%s", got.body)
			}
			if back := b.get(html.UnescapeString(m[1])); back.status != http.StatusOK || back.url.Path != "/login" || !reContinue.MatchString(back.body) {
				t.Errorf("Back to sign-in: %d at %s", back.status, back.url)
			}
			if c, _, _ := e.auth.Authenticate(reqWithCookies(b, e.srv.URL)); c.Subject != "" {
				t.Errorf("refused user has a session: %+v", c)
			}
		})
	}
}

func reqWithCookies(b *browser, u string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, u, nil)
	pu, _ := url.Parse(u)
	for _, c := range b.c.Jar.Cookies(pu) {
		r.AddCookie(c)
	}
	return r
}

// assertErrorPage checks our own error page: status, code, HTML, no trace.
func assertErrorPage(t *testing.T, p page, status int, code string) {
	t.Helper()
	if p.status != status || !strings.Contains(p.body, "<code>"+code+"</code>") || !strings.Contains(p.body, "<!doctype html>") {
		t.Fatalf("want our %d page with %s, got %d at %s:\n%s", status, code, p.status, p.url, p.body)
	}
	for _, leak := range []string{"goroutine", ".go:", "panic", "oauth2:"} {
		if strings.Contains(p.body, leak) {
			t.Errorf("error page leaks %q:\n%s", leak, p.body)
		}
	}
}

// TestCallbackState: a wrong state is refused without spending the real
// sign-in; the callback cannot be replayed, with or without its cookie.
func TestCallbackState(t *testing.T) {
	e := newEnv(t, func(redirect string) string { return testop.Start(t, []string{redirect}).Issuer }, nil)
	b := newBrowser(t)
	b.stopAt = "/oidc/callback"
	_, challenge := pkce()
	stopped := signInAtOP(t, b, e.toProvider(b, challenge, ""), "alice")
	cb, err := url.Parse(stopped.location)
	if err != nil || cb.Path != "/oidc/callback" || cb.Query().Get("code") == "" {
		t.Fatalf("want a redirect to our callback, got %d %q", stopped.status, stopped.location)
	}
	b.stopAt = ""
	// A copy of the browser's cookies, as an attacker who stole them would hold.
	thief := newBrowser(t)
	su, _ := url.Parse(e.srv.URL)
	thief.c.Jar.SetCookies(su, b.c.Jar.Cookies(su))

	for _, mutate := range []func(url.Values){
		func(q url.Values) { q.Set("state", "forged") },
		func(q url.Values) { q.Del("state") },
		func(q url.Values) { q.Add("state", q.Get("state")) },
		func(q url.Values) { q.Set("state", strings.Repeat("s", 500)) },
	} {
		q := cb.Query()
		mutate(q)
		assertErrorPage(t, b.get(e.srv.URL+"/oidc/callback?"+q.Encode()), http.StatusBadRequest, "invalid_state")
	}
	// Another browser (no state cookie) cannot use the callback.
	assertErrorPage(t, newBrowser(t).get(cb.String()), http.StatusBadRequest, "invalid_state")

	first := b.get(cb.String())
	if first.status != http.StatusOK || first.url.Path != "/consent" {
		t.Fatalf("genuine callback: %d at %s:\n%s", first.status, first.url, first.body)
	}
	// Replayed in the same browser: its state cookie is gone.
	assertErrorPage(t, b.get(cb.String()), http.StatusBadRequest, "invalid_state")
	// Replayed with the stolen cookies: the provider refuses the spent code.
	assertErrorPage(t, thief.get(cb.String()), http.StatusBadRequest, "invalid_state")
	if u, ok, _ := e.auth.Authenticate(reqWithCookies(thief, e.srv.URL)); ok {
		t.Errorf("replayed callback signed in %+v", u)
	}
}

// TestUpstreamDenied: the user cancels at the provider (access_denied).
func TestUpstreamDenied(t *testing.T) {
	e := newEnv(t, func(redirect string) string { return testop.Start(t, []string{redirect}).Issuer }, nil)
	b := newBrowser(t)
	b.stopAt = "/oidc/callback"
	_, challenge := pkce()
	stopped := signInAtOP(t, b, e.toProvider(b, challenge, ""), "alice")
	cb, _ := url.Parse(stopped.location)
	q := url.Values{"state": {cb.Query().Get("state")}, "error": {"access_denied"}}
	b.stopAt = ""
	assertErrorPage(t, b.get(e.srv.URL+"/oidc/callback?"+q.Encode()), http.StatusForbidden, "access_denied")
}

// TestProviderDownAtSignIn: discovery fails → our 502 page, not a 500.
func TestProviderDownAtSignIn(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	e := newEnv(t, func(string) string { return dead.URL }, nil)
	b := newBrowser(t)
	_, challenge := pkce()
	assertErrorPage(t, e.toProvider(b, challenge, ""), http.StatusBadGateway, "temporarily_unavailable")
}

func TestNewRejects(t *testing.T) {
	good := oidc.Config{Issuer: "https://idp.example", ClientID: "c", RedirectURL: "https://as.example/cb", CookieKey: make([]byte, 32)}
	for name, mutate := range map[string]func(*oidc.Config){
		"no issuer":       func(c *oidc.Config) { c.Issuer = "" },
		"relative issuer": func(c *oidc.Config) { c.Issuer = "/idp" },
		"no client":       func(c *oidc.Config) { c.ClientID = "" },
		"short key":       func(c *oidc.Config) { c.CookieKey = make([]byte, 16) },
		"http redirect":   func(c *oidc.Config) { c.RedirectURL = "http://as.example/cb" },
		"bad domain":      func(c *oidc.Config) { c.AllowedDomains = []string{"a@b"} },
	} {
		c := good
		mutate(&c)
		if _, err := oidc.New(c); err == nil {
			t.Errorf("%s: New accepted %+v", name, c)
		}
	}
	if _, err := oidc.New(good); err != nil {
		t.Fatal(err)
	}
}
