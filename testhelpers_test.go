package mcpauth_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

// Shared fixtures of the endpoint tests. Requests go straight to
// Server.ServeHTTP (no network) unless a test needs a real listener.

const (
	testIssuer    = "http://127.0.0.1:8765"
	resourceA     = "https://mcp.example.com/mcp"
	resourceB     = "https://other.example.com/mcp"
	testAgentID   = "agent-42"
	testPassword  = "correct horse battery staple"
	autoSubject   = "auto-user"
	pubRedirect   = "http://127.0.0.1/cb"
	pubRedirect2  = "https://app.example.com/cb"
	confRedirect  = "https://conf.example.com/cb"
	weirdClientID = "we:ird%+id"    // RFC 6749 §2.3.1: form-urlencoded inside Basic
	weirdSecret   = "se:cr%et+/ =x" // ':' '%' '+' ' ' all need encoding
	confSecret    = "conf-secret-0123456789"
)

// testEpoch is far from the real clock, so code that reads time.Now instead
// of Config.Now shows up.
var testEpoch = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

// discard silences servers whose logs a test does not read.
var discard = slog.New(slog.DiscardHandler)

var (
	hashOnce sync.Once
	pwHash   string
)

// passwordHash hashes testPassword once per test binary (argon2id is slow).
func passwordHash(t testing.TB) string {
	t.Helper()
	hashOnce.Do(func() {
		h, err := mcpauth.HashPassword(testPassword)
		if err != nil {
			panic(err)
		}
		pwHash = h
	})
	return pwHash
}

// fakeClock is Config.Now for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// env is one authorization server with inspectable stores and clock.
type env struct {
	t       testing.TB
	srv     *mcpauth.Server
	issuer  string
	clients store.ClientStore
	grants  store.GrantStore
	keys    store.KeyStore
	clock   *fakeClock
	logs    *syncBuffer
}

// staticClients are pre-registered clients shared by most tests.
func staticClients() []store.Client {
	return []store.Client{
		{ID: "pub", ClientMetadata: store.ClientMetadata{Name: "Pub App", RedirectURIs: []string{pubRedirect, pubRedirect2}, TokenEndpointAuthMethod: "none"}},
		{ID: "pub1", ClientMetadata: store.ClientMetadata{Name: "Single Redirect", RedirectURIs: []string{pubRedirect}, TokenEndpointAuthMethod: "none"}},
		{ID: "other", ClientMetadata: store.ClientMetadata{Name: "Other App", RedirectURIs: []string{pubRedirect}, TokenEndpointAuthMethod: "none"}},
		{
			ID:             "nort",
			ClientMetadata: store.ClientMetadata{Name: "No Refresh", RedirectURIs: []string{pubRedirect}, TokenEndpointAuthMethod: "none", GrantTypes: []string{"authorization_code"}},
		},
		{ID: "conf", ClientSecret: confSecret, ClientMetadata: store.ClientMetadata{Name: "Conf App", RedirectURIs: []string{confRedirect}}},
		{
			ID:             "confpost",
			ClientSecret:   confSecret,
			ClientMetadata: store.ClientMetadata{Name: "Conf Post", RedirectURIs: []string{confRedirect}, TokenEndpointAuthMethod: "client_secret_post"},
		},
		{ID: weirdClientID, ClientSecret: weirdSecret, ClientMetadata: store.ClientMetadata{Name: "Weird", RedirectURIs: []string{confRedirect}}},
	}
}

// newEnv builds a server at testIssuer: mcpauthtest.AutoApprove (no pages), rate
// limits off, a fake clock at testEpoch. edits adjust the Config.
func newEnv(t testing.TB, edits ...func(*mcpauth.Config)) *env {
	t.Helper()
	e := &env{
		t: t, clock: &fakeClock{t: testEpoch}, logs: &syncBuffer{},
		clients: store.NewMemoryClientStore(), keys: store.NewMemoryKeyStore(),
	}
	e.grants = store.NewMemoryGrantStore(e.clock.Now)
	cfg := mcpauth.Config{
		Issuer:            testIssuer,
		Scopes:            []string{"read", "write"},
		ScopeDescriptions: map[string]string{"read": "Read your notes", "write": "Change your notes"},
		Resources:         []string{resourceA, resourceB},
		Grantex:           mcpauth.GrantexConfig{AgentID: testAgentID},
		Authenticator:     mcpauthtest.AutoApprove(autoSubject),
		StaticClients:     staticClients(),
		Clients:           e.clients,
		Grants:            e.grants,
		Keys:              e.keys,
		RateLimits:        &limits.RateLimits{Disabled: true},
		Logger:            slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:               e.clock.Now,
		// conf is the resource server that e.introspect asks.
		Introspectors: []string{"conf"},
	}
	for _, edit := range edits {
		edit(&cfg)
	}
	srv, err := mcpauth.NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	e.srv, e.issuer = srv, cfg.Issuer
	return e
}

// withUsers switches from auto-approve to the built-in login page (user alice).
func withUsers(t testing.TB) func(*mcpauth.Config) {
	h := passwordHash(t)
	return func(c *mcpauth.Config) {
		c.Authenticator = nil
		c.Users = []mcpauth.PasswordUser{{Username: "alice", PasswordHash: h, Subject: "user-alice"}}
	}
}

// serve runs one request through the server, checking the universal rules:
// never a 5xx for client input, never a panic.
func (e *env) serve(r *http.Request) *http.Response {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, r)
	resp := rec.Result()
	if resp.StatusCode >= 500 {
		e.t.Errorf("%s %s: status %d (body %s)", r.Method, r.URL, resp.StatusCode, peek(resp))
	}
	return resp
}

// req builds a request to a path below the issuer.
func (e *env) req(method, path string, body io.Reader) *http.Request {
	return httptest.NewRequest(method, e.issuer+path, body)
}

func (e *env) get(path string, hdr ...string) *http.Response {
	e.t.Helper()
	r := e.req(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return e.serve(r)
}

// postForm posts v form-encoded; hdr are header name/value pairs.
func (e *env) postForm(path string, v url.Values, hdr ...string) *http.Response {
	e.t.Helper()
	r := e.req(http.MethodPost, path, strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return e.serve(r)
}

// postRaw posts body with the given content type.
func (e *env) postRaw(path, contentType, body string, hdr ...string) *http.Response {
	e.t.Helper()
	r := e.req(http.MethodPost, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return e.serve(r)
}

func (e *env) postJSON(path string, v any, hdr ...string) *http.Response {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.postRaw(path, "application/json", string(b), hdr...)
}

// basic is an RFC 6749 §2.3.1 Authorization header value.
func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// peek returns the body without consuming it.
func peek(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}

// jsonBody decodes a JSON object body.
func jsonBody(t testing.TB, resp *http.Response) map[string]any {
	t.Helper()
	body := peek(resp)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json (status %d, body %.300s)", ct, resp.StatusCode, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body %.300q: %v", body, err)
	}
	return m
}

// oauthError returns the status and error code of an RFC 6749 §5.2 answer.
func oauthError(t testing.TB, resp *http.Response) (string, int) {
	t.Helper()
	m := jsonBody(t, resp)
	code, _ := m["error"].(string)
	return code, resp.StatusCode
}

// errDesc returns error_description of an OAuth JSON body.
func errDesc(t testing.TB, resp *http.Response) string {
	t.Helper()
	d, _ := jsonBody(t, resp)["error_description"].(string)
	return d
}

// newVerifier returns a random PKCE verifier (43 unreserved characters).
func newVerifier() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authzQuery is a valid authorization request for clientID.
func authzQuery(clientID, redirectURI, verifier string) url.Values {
	v := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"code_challenge":        {mcpauth.S256Challenge(verifier)},
		"code_challenge_method": {"S256"},
		"state":                 {"st-" + clientID},
		"resource":              {resourceA},
	}
	if redirectURI != "" {
		v.Set("redirect_uri", redirectURI)
	}
	return v
}

// merge overlays o on v: an empty value deletes the key.
func merge(v, o url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	for k, vs := range o {
		if len(vs) == 1 && vs[0] == "" {
			delete(out, k)
			continue
		}
		out[k] = vs
	}
	return out
}

// location parses the Location header of a redirect.
func location(t testing.TB, resp *http.Response) *url.URL {
	t.Helper()
	loc := resp.Header.Get("Location")
	if loc == "" {
		t.Fatalf("no Location (status %d, body %.300s)", resp.StatusCode, peek(resp))
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// code runs an auto-approved authorization request and returns the code and
// its verifier. extra overrides query parameters (empty value removes).
func (e *env) code(clientID, redirectURI string, extra url.Values) (code, verifier string) {
	e.t.Helper()
	verifier = newVerifier()
	q := merge(authzQuery(clientID, redirectURI, verifier), extra)
	resp := e.get("/authorize?" + q.Encode())
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("authorize: status %d, body %.300s", resp.StatusCode, peek(resp))
	}
	u := location(e.t, resp)
	code = u.Query().Get("code")
	if code == "" {
		e.t.Fatalf("authorize: no code in %s", u)
	}
	return code, verifier
}

// tokenReq is the form of an authorization_code token request.
func tokenReq(clientID, code, verifier, redirectURI string) url.Values {
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}}
	if clientID != "" {
		v.Set("client_id", clientID)
	}
	if redirectURI != "" {
		v.Set("redirect_uri", redirectURI)
	}
	return v
}

// tokens redeems a fresh code of the public client pub and returns the token
// response (access_token, refresh_token, …).
func (e *env) tokens(clientID string, extra url.Values) map[string]any {
	e.t.Helper()
	c, v := e.code(clientID, pubRedirect, extra)
	resp := e.postForm("/token", tokenReq(clientID, c, v, pubRedirect))
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("token: status %d, body %s", resp.StatusCode, peek(resp))
	}
	return jsonBody(e.t, resp)
}

// introspect asks /introspect about token as the confidential client conf,
// a designated introspector (Config.Introspectors).
func (e *env) introspect(token string) map[string]any {
	e.t.Helper()
	resp := e.postForm("/introspect", url.Values{"token": {token}}, "Authorization", basic("conf", confSecret))
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("introspect: status %d, body %s", resp.StatusCode, peek(resp))
	}
	return jsonBody(e.t, resp)
}

func (e *env) active(token string) bool {
	e.t.Helper()
	a, _ := e.introspect(token)["active"].(bool)
	return a
}

// refresh runs the refresh_token grant for a public client.
func (e *env) refresh(clientID, rt string, extra url.Values) *http.Response {
	e.t.Helper()
	v := merge(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}}, extra)
	return e.postForm("/token", v)
}

// jwtParts decodes a compact JWT's header and payload without verifying.
func jwtParts(t testing.TB, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", token)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(dst); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	return header, claims
}

// browser is a user agent with a cookie jar that talks to one env.
type browser struct {
	e   *env
	jar *cookiejar.Jar
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, jar: jar}
}

// do sends r with the jar's cookies and stores the answer's cookies.
func (b *browser) do(r *http.Request) *http.Response {
	b.e.t.Helper()
	r.Header.Set("Accept", "text/html,application/xhtml+xml")
	for _, c := range b.jar.Cookies(r.URL) {
		r.AddCookie(c)
	}
	resp := b.e.serve(r)
	b.jar.SetCookies(r.URL, resp.Cookies())
	return resp
}

func (b *browser) get(rawURL string) *http.Response {
	b.e.t.Helper()
	return b.do(httptest.NewRequest(http.MethodGet, rawURL, nil))
}

func (b *browser) post(rawURL string, v url.Values) *http.Response {
	b.e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, rawURL, strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(r)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)

// hidden returns the hidden form fields of an HTML page.
func hidden(t testing.TB, resp *http.Response) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(peek(resp), -1) {
		v.Set(m[1], m[2])
	}
	if v.Get("req") == "" || v.Get("csrf") == "" {
		t.Fatalf("page has no req/csrf fields: %.500s", peek(resp))
	}
	return v
}

// absolute resolves a Location against the issuer.
func (e *env) absolute(u *url.URL) string {
	base, _ := url.Parse(e.issuer)
	return base.ResolveReference(u).String()
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// hostSignIn is a host application's sign-in as an [mcpauth.Authenticator]:
// current looks the user up, loginURL is where to send the browser so that
// it comes back to returnTo.
type hostSignIn struct {
	current  func(r *http.Request) (mcpauth.User, bool, error)
	loginURL func(returnTo string) string
}

func (h hostSignIn) Authenticate(r *http.Request) (mcpauth.User, bool, error) { return h.current(r) }

func (h hostSignIn) SignIn(w http.ResponseWriter, r *http.Request, returnTo string) {
	http.Redirect(w, r, h.loginURL(returnTo), http.StatusFound)
}
