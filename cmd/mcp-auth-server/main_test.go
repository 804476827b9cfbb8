package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/grantex/grantextest"
	"github.com/mcpauth/mcpauth/limits"
)

// envMap is a getenv over a fixed map.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil, envMap(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:8080" || o.issuer != "http://127.0.0.1:8080" || o.store != "sqlite:./mcpauth.db" {
		t.Errorf("addr %q issuer %q store %q", o.addr, o.issuer, o.store)
	}
	if !slices.Equal(o.scopes, []string{"tools:read", "tools:execute", "resources:read"}) {
		t.Errorf("scopes %v", o.scopes)
	}
	if !o.demoMCP || o.logFormat != "text" || o.rateLimits == nil || o.rateLimits.Disabled || len(o.users) != 0 {
		t.Errorf("defaults: %+v", o)
	}
	if o.storeTimeout != 5*time.Second || o.refreshRetryWindow != 10*time.Second || o.clientIdleExpiry != 90*24*time.Hour || o.maxPending != 10000 {
		t.Errorf("store bounds: timeout %v retry window %v idle expiry %v max pending %d", o.storeTimeout, o.refreshRetryWindow, o.clientIdleExpiry, o.maxPending)
	}
	if o.maxStateLength != 2048 {
		t.Errorf("max state length %d, want 2048", o.maxStateLength)
	}
	if o.tokenCache != 10000 {
		t.Errorf("verified token cache %d, want 10000", o.tokenCache)
	}
	if o, err := parseFlags(nil, envMap(map[string]string{"MCPAUTH_VERIFIED_TOKEN_CACHE": "0"}), io.Discard); err != nil || o.tokenCache >= 0 {
		t.Errorf("MCPAUTH_VERIFIED_TOKEN_CACHE=0: %v, cache %d, want disabled (negative)", err, o.tokenCache)
	}
	if o, err := parseFlags(nil, envMap(map[string]string{"MCPAUTH_MAX_STATE_LENGTH": "512"}), io.Discard); err != nil || o.maxStateLength != 512 {
		t.Errorf("MCPAUTH_MAX_STATE_LENGTH=512: %v", err)
	}
}

// TestParseFlagsStoreBounds: the store bounds come from flags or the
// environment, and 0 turns the retry window and idle expiry off.
func TestParseFlagsStoreBounds(t *testing.T) {
	env := envMap(map[string]string{"MCPAUTH_STORE_TIMEOUT": "2s", "MCPAUTH_MAX_PENDING": "500"})
	o, err := parseFlags([]string{"-refresh-retry-window", "0", "-client-idle-expiry", "0s"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.storeTimeout != 2*time.Second || o.maxPending != 500 || o.refreshRetryWindow >= 0 || o.clientIdleExpiry >= 0 {
		t.Errorf("store bounds: timeout %v max pending %d retry window %v idle expiry %v; want 2s, 500, off, off",
			o.storeTimeout, o.maxPending, o.refreshRetryWindow, o.clientIdleExpiry)
	}
}

func TestParseFlagsEnvironment(t *testing.T) {
	env := envMap(map[string]string{
		"MCPAUTH_ADDR":             "127.0.0.1:9999",
		"MCPAUTH_STORE":            "memory:",
		"MCPAUTH_SCOPES":           "a b",
		"MCPAUTH_USER":             "ann:pw1, bob:pw2",
		"MCPAUTH_DEMO_MCP":         "false",
		"MCPAUTH_RATE_LIMIT":       "off",
		"MCPAUTH_LOG_FORMAT":       "json",
		"MCPAUTH_GRANTEX_URL":      "https://api.grantex.dev",
		"MCPAUTH_GRANTEX_API_KEY":  "gx_key",
		"MCPAUTH_GRANTEX_AGENT_ID": "ag_1",
		"MCPAUTH_AUDIT_SECRET":     "0123456789abcdef",
		"MCPAUTH_STATIC_CLIENT":    "c1:http://127.0.0.1:3000/cb,c1:http://localhost:3000/cb",
	})
	o, err := parseFlags(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:9999" || o.issuer != "http://127.0.0.1:9999" || o.store != "memory:" || o.demoMCP ||
		!o.rateLimits.Disabled || o.logFormat != "json" || o.grantexAPIKey != "gx_key" || o.auditSecret != "0123456789abcdef" {
		t.Errorf("from the environment: %+v", o)
	}
	if !slices.Equal(o.scopes, []string{"a", "b"}) || len(o.users) != 2 || o.users[1] != (userFlag{"bob", "pw2"}) {
		t.Errorf("scopes %v users %v", o.scopes, o.users)
	}
	if len(o.staticClients) != 1 || len(o.staticClients[0].RedirectURIs) != 2 {
		t.Errorf("static clients %+v", o.staticClients)
	}

	// Flags win over the environment; a repeated flag replaces the list.
	o, err = parseFlags([]string{"-addr", "127.0.0.1:7777", "-user", "cy:pw3", "-demo-mcp=true", "-issuer", "https://auth.example.com"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:7777" || o.issuer != "https://auth.example.com" || !o.demoMCP {
		t.Errorf("flags over env: %+v", o)
	}
	if len(o.users) != 1 || o.users[0].name != "cy" {
		t.Errorf("users %v, want only cy", o.users)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string // in the message
	}{
		{[]string{"-nope"}, nil, "-nope"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{[]string{"-addr", "8080"}, nil, "-addr"},
		{[]string{"-addr", "127.0.0.1:99999"}, nil, "-addr"},
		{[]string{"-metrics-addr", "9090"}, nil, "-metrics-addr"},
		{nil, map[string]string{"MCPAUTH_METRICS_ADDR": "9090"}, "MCPAUTH_METRICS_ADDR"},
		{[]string{"-addr", "10.1.2.3:8080"}, nil, "-issuer is required"},
		{[]string{"-issuer", "http://example.com"}, nil, "-issuer"},
		{[]string{"-issuer", "https://example.com/"}, nil, "slash"},
		{[]string{"-store", "mysql://x"}, nil, "-store"},
		{[]string{"-store", "sqlite:"}, nil, "-store"},
		{[]string{"-scopes", " "}, nil, "-scopes"},
		{[]string{"-scopes", `a"b`}, nil, "-scopes"},
		{[]string{"-user", "nopassword"}, nil, "-user"},
		{[]string{"-user", "a:1", "-user", "a:2"}, nil, "twice"},
		{[]string{"-rate-limit", "token=ten/m"}, nil, "-rate-limit"},
		{[]string{"-log-format", "xml"}, nil, "-log-format"},
		{[]string{"-log-level", "loud"}, nil, "-log-level"},
		{[]string{"-static-client", "onlyid"}, nil, "-static-client"},
		{[]string{"-grantex-url", "https://api.grantex.dev"}, nil, "-grantex-api-key"},
		{[]string{"-grantex-api-key", "k", "-grantex-agent-id", "a"}, nil, "-grantex-url"},
		{[]string{"-grantex-jwks-url", "https://x/jwks"}, nil, "-grantex-url"},
		{[]string{"-audit-secret", "short"}, nil, "-audit-secret"},
		{nil, map[string]string{"MCPAUTH_DEMO_MCP": "perhaps"}, "MCPAUTH_DEMO_MCP"},
		{[]string{"-store-timeout", "0s"}, nil, "-store-timeout"},
		{[]string{"-refresh-retry-window", "-1s"}, nil, "-refresh-retry-window"},
		{[]string{"-refresh-retry-window", "1h"}, nil, "-refresh-retry-window"},
		{[]string{"-client-idle-expiry", "-1h"}, nil, "-client-idle-expiry"},
		{[]string{"-max-pending", "0"}, nil, "-max-pending"},
		{[]string{"-verified-token-cache", "-1"}, nil, "-verified-token-cache"},
		{nil, map[string]string{"MCPAUTH_STORE_TIMEOUT": "soon"}, "MCPAUTH_STORE_TIMEOUT"},
		{[]string{"-max-state-length", "0"}, nil, "-max-state-length"},
		{nil, map[string]string{"MCPAUTH_MAX_STATE_LENGTH": "big"}, "MCPAUTH_MAX_STATE_LENGTH"},
	} {
		_, err := parseFlags(tc.args, envMap(tc.env), io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v %v: err %v, want a usage error", tc.args, tc.env, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %q does not mention %q", tc.args, err, tc.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: multi-line message %q", tc.args, err)
		}
	}
}

func TestParseFlagsHidesSecrets(t *testing.T) {
	_, err := parseFlags([]string{"-store", "mysql://u:hunter2@db/x"}, envMap(nil), io.Discard)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v shows the password", err)
	}
}

// runExit runs the program as main does and returns its exit status and
// what it wrote.
func runExit(t *testing.T, args []string, env map[string]string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = exitCode(run(ctx, args, envMap(env), &out, &errb), &errb)
	return code, out.String(), errb.String()
}

func TestBadFlagsExit2OneLine(t *testing.T) {
	code, _, stderr := runExit(t, []string{"-store", "oracle:x"}, nil)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "mcp-auth-server: -store") {
		t.Errorf("stderr %q, want one line naming -store", stderr)
	}
	if code, _, _ := runExit(t, []string{"-h"}, nil); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}

func TestUnreachableStoreExit1OneLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now

	for _, tc := range []struct{ store, want string }{
		{"postgres://postgres:pw@" + dead + "/test?sslmode=disable", "PostgreSQL"},
		{"sqlite:" + filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), "SQLite"},
	} {
		start := time.Now()
		code, _, stderr := runExit(t, []string{"-addr", "127.0.0.1:0", "-store", tc.store, "-user", "a:b"}, nil)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1 (%s)", tc.store, code, stderr)
		}
		if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: stderr %q, want one line naming the %s store", tc.store, stderr, tc.want)
		}
		if strings.Contains(stderr, ":pw@") {
			t.Errorf("stderr shows the password: %q", stderr)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("%s: took %v to give up", tc.store, d)
		}
	}
}

func TestPortInUseExit1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, stderr := runExit(t, []string{"-addr", ln.Addr().String(), "-store", "memory:", "-user", "a:b"}, nil)
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "-addr") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// lockedBuffer is the program's stdout, read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// started is a program running in the test.
type started struct {
	issuer string
	banner string
	stop   func() error // cancels and waits for run to return
}

func startRun(t *testing.T, args ...string) *started {
	t.Helper()
	return startRunWith(t, nil, args...)
}

// startRunWith is startRun with the store wrapped by wrapStore.
func startRunWith(t *testing.T, wrapStore func(store) store, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runWith(ctx, append([]string{"-addr", "127.0.0.1:0", "-log-level", "error"}, args...), envMap(nil), out, io.Discard, wrapStore)
	}()
	s := &started{}
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(15 * time.Second):
				stopErr = errors.New("run did not return 15s after cancel")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { s.stop() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v", err)
		default:
		}
		banner := out.String()
		if strings.Contains(banner, "Connect an MCP client") || strings.Contains(banner, "Sign in with") && strings.Contains(banner, "Store:") {
			s.banner = banner
			sc := bufio.NewScanner(strings.NewReader(banner))
			for sc.Scan() {
				if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Issuer:"); ok {
					s.issuer = strings.TrimSpace(v)
				}
			}
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner; output so far: %q", banner)
		}
	}
}

func getJSON(t *testing.T, u string, want int) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d", u, resp.StatusCode, want)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return m
}

var passwordLine = regexp.MustCompile(`Sign in as "admin" with password "([^"]+)"`)

func TestServesEverything(t *testing.T) {
	dir := t.TempDir()
	s := startRun(t, "-store", "sqlite:"+filepath.Join(dir, "state.db"), "-audit-secret", "an-operator-secret-123")
	m := passwordLine.FindStringSubmatch(s.banner)
	if m == nil {
		t.Fatalf("banner has no generated password:\n%s", s.banner)
	}
	password := m[1]
	iss := s.issuer
	for _, want := range []string{
		"Issuer:             " + iss,
		"Metadata:           " + iss + "/.well-known/oauth-authorization-server",
		"MCP server:         " + iss + "/mcp",
		"Resource metadata:  " + iss + "/.well-known/oauth-protected-resource/mcp",
	} {
		if !strings.Contains(s.banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, s.banner)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) == 0 {
		t.Error("the SQLite store made no file")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "state.db")); err == nil && bytes.Contains(b, []byte(password)) {
		t.Error("the generated password is in the database")
	}

	if h := getJSON(t, iss+"/healthz", http.StatusOK); h["status"] != "ok" {
		t.Errorf("healthz %v", h)
	}
	meta := getJSON(t, iss+"/.well-known/oauth-authorization-server", http.StatusOK)
	if meta["issuer"] != iss {
		t.Errorf("issuer %v", meta["issuer"])
	}
	ext, _ := meta["grantex_extensions"].(map[string]any)
	if ext["audit_stream"] != iss+"/events/stream" {
		t.Errorf("audit_stream extension %v", ext["audit_stream"])
	}
	scopes, _ := json.Marshal(meta["scopes_supported"])
	if !strings.Contains(string(scopes), `"audit:read"`) || !strings.Contains(string(scopes), `"tools:execute"`) {
		t.Errorf("scopes_supported %s", scopes)
	}
	for _, p := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		prm := getJSON(t, iss+p, http.StatusOK)
		if prm["resource"] != iss+"/mcp" || !slices.Contains(prm["authorization_servers"].([]any), any(iss)) {
			t.Errorf("%s: %v", p, prm)
		}
	}

	resp, err := http.Post(iss+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	challenge := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(challenge, `resource_metadata="`+iss+`/.well-known/oauth-protected-resource/mcp"`) {
		t.Errorf("/mcp without a token: %d %q", resp.StatusCode, challenge)
	}
	req, _ := http.NewRequest(http.MethodOptions, iss+"/mcp", nil)
	req.Header.Set("Origin", "http://localhost:6274")
	req.Header.Set("Access-Control-Request-Method", "POST")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("CORS preflight: %v %v", resp, err)
	}

	resp, err = http.Get(iss + "/events/stream")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("audit stream without credentials: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodGet, iss+"/events/stream", nil)
	req.Header.Set("Authorization", "Bearer an-operator-secret-123")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("audit stream with the operator secret: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Left open: shutdown must end it.
	streamDone := make(chan struct{})
	go func() { io.Copy(io.Discard, resp.Body); resp.Body.Close(); close(streamDone) }()

	// The printed password signs admin in.
	signIn(t, iss, "admin", password)

	start := time.Now()
	if err := s.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("graceful shutdown took %v with an audit stream open", d)
	}
	select {
	case <-streamDone:
	case <-time.After(5 * time.Second):
		t.Error("the audit stream stayed open after shutdown")
	}
	if _, err := http.Get(iss + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="(req|csrf)" value="([^"]*)">`)

// testRedirect is the loopback redirect URI of the test clients; nothing
// listens there, so a browser stops at it.
const testRedirect = "http://127.0.0.1:9/cb"

// registerPublicClient registers a public client (token_endpoint_auth_method
// none) redirecting to testRedirect and returns its client_id; fields are
// more JSON members for the request, such as `"client_name":"x"`.
func registerPublicClient(t *testing.T, iss string, fields ...string) string {
	t.Helper()
	body := `{"redirect_uris":["` + testRedirect + `"],"token_endpoint_auth_method":"none"`
	for _, f := range fields {
		body += "," + f
	}
	resp, err := http.Post(iss+"/register", "application/json", strings.NewReader(body+"}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var client struct {
		ClientID string `json:"client_id"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &client) != nil {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}
	return client.ClientID
}

// authorizePage starts an authorization for clientID in the browser c (a
// PKCE S256 request for iss+"/mcp" redirecting to testRedirect, with state
// "s"; extra adds or replaces query parameters) and returns the answer,
// its body read and closed, and the page.
func authorizePage(t *testing.T, c *http.Client, iss, clientID string, extra url.Values) (*http.Response, []byte) {
	t.Helper()
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {testRedirect},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
		"state": {"s"}, "resource": {iss + "/mcp"},
	}
	for k, v := range extra {
		q[k] = v
	}
	req, _ := http.NewRequest(http.MethodGet, iss+"/authorize?"+q.Encode(), nil)
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, page
}

// hiddenFields is the hidden req and csrf inputs of a sign-in or consent
// page, unescaped: the start of the form to post back.
func hiddenFields(page []byte) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllSubmatch(page, -1) {
		v.Set(string(m[1]), html.UnescapeString(string(m[2])))
	}
	return v
}

// postForm posts form to u in the browser c, as a page's form is sent;
// the caller reads and closes the body.
func postForm(t *testing.T, c *http.Client, u string, form url.Values) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// signIn registers a client, starts an authorization and posts the sign-in
// form; it must land on the consent page.
func signIn(t *testing.T, iss, user, password string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	signInWith(t, &http.Client{Jar: jar}, iss, user, password)
}

// signInWith is signIn in the browser c (its cookie jar keeps the session).
func signInWith(t *testing.T, c *http.Client, iss, user, password string) {
	t.Helper()
	clientID := registerPublicClient(t, iss, `"client_name":"cmd test"`)
	resp, page := authorizePage(t, c, iss, clientID, nil)
	form := hiddenFields(page)
	form.Set("username", user)
	form.Set("password", password)
	if form.Get("req") == "" || form.Get("csrf") == "" {
		t.Fatalf("no sign-in form at %s: %d %.300s", resp.Request.URL, resp.StatusCode, page)
	}
	resp = postForm(t, c, iss+"/login", form)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`value="approve"`)) {
		t.Fatalf("sign-in as %s did not reach the consent page: %d %.300s", user, resp.StatusCode, page)
	}
}

func TestUsersFlagSignsIn(t *testing.T) {
	s := startRun(t, "-store", "memory:", "-user", "carol:s3cret-pass")
	if strings.Contains(s.banner, "s3cret-pass") || !strings.Contains(s.banner, "carol") {
		t.Errorf("banner:\n%s", s.banner)
	}
	signIn(t, s.issuer, "carol", "s3cret-pass")
}

func TestDemoMCPOff(t *testing.T) {
	s := startRun(t, "-store", "memory:", "-user", "a:b", "-demo-mcp=false")
	if strings.Contains(s.banner, "/mcp") {
		t.Errorf("banner mentions the MCP server:\n%s", s.banner)
	}
	resp, err := http.Post(s.issuer+"/mcp", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/mcp with -demo-mcp=false: %d, want 404", resp.StatusCode)
	}
}

func TestPostgresStore(t *testing.T) {
	dsn := os.Getenv("MCPAUTH_TEST_POSTGRES_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	u, _ := url.Parse(dsn)
	if c, err := net.DialTimeout("tcp", u.Host, 2*time.Second); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable at %s: %v", u.Host, err)
		}
		t.Skipf("PostgreSQL unreachable at %s (set MCPAUTH_TEST_POSTGRES_DSN): %v", u.Host, err)
	} else {
		c.Close()
	}
	s := startRun(t, "-store", dsn, "-user", "dana:pg-pass-1")
	if h := getJSON(t, s.issuer+"/healthz", http.StatusOK); h["status"] != "ok" {
		t.Errorf("healthz %v", h)
	}
	signIn(t, s.issuer, "dana", "pg-pass-1")
}

// failingStore is a store whose database is down.
type failingStore struct{ memoryStore }

func (failingStore) IsRevoked(context.Context, string, string) (bool, error) {
	return false, errors.Join(mcpauth.ErrUnavailable, errors.New("connection refused"))
}

func TestHealthzReportsStoreDown(t *testing.T) {
	rec := httptest.NewRecorder()
	healthHandler(failingStore{}, slog.New(slog.DiscardHandler), nil)(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "unavailable") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "connection refused") { // public: no internals
		t.Errorf("%d %s", rec.Code, rec.Body)
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

func TestManagedMode(t *testing.T) {
	fake := grantextest.NewServer(grantextest.Options{})
	defer fake.Close()
	s := startRun(t, "-store", "memory:", "-user", "erin:managed-pw",
		"-grantex-url", fake.URL, "-grantex-api-key", grantextest.DefaultAPIKey,
		"-grantex-agent-id", grantextest.DefaultAgentID, "-grantex-issuer", fake.Issuer())
	if !strings.Contains(s.banner, "Grantex (managed):  "+fake.URL) {
		t.Errorf("banner:\n%s", s.banner)
	}
	meta := getJSON(t, s.issuer+"/.well-known/oauth-authorization-server", http.StatusOK)
	if meta["jwks_uri"] != fake.URL+"/.well-known/jwks.json" {
		t.Errorf("jwks_uri %v, want Grantex's", meta["jwks_uri"])
	}
	// The user still signs in here before Grantex's consent.
	signInPage(t, s.issuer)
}

// signInPage checks that an authorization request shows the sign-in form.
func signInPage(t *testing.T, iss string) {
	t.Helper()
	resp, page := authorizePage(t, http.DefaultClient, iss, registerPublicClient(t, iss), nil)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`name="username"`)) {
		t.Errorf("authorize: %d %.300s", resp.StatusCode, page)
	}
}

func TestMCPHostCheck(t *testing.T) {
	h := checkHost("mcp.example.com", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for host, want := range map[string]int{
		"mcp.example.com":    http.StatusOK,
		"MCP.example.com":    http.StatusOK,
		"127.0.0.1:8080":     http.StatusOK,
		"localhost:8080":     http.StatusOK,
		"[::1]:8080":         http.StatusOK,
		"attacker.example":   http.StatusForbidden,
		"mcp.example.com.ev": http.StatusForbidden,
	} {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		r.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != want {
			t.Errorf("Host %s: %d, want %d", host, rec.Code, want)
		}
	}
}

func TestParseFlagsLoginBounds(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		slots   int
		wait    time.Duration
		backoff string
		perIP   string // the login rate
	}{
		{"defaults", nil, nil, 0, 2 * time.Second, "free=5,base=1s,max=15m0s", "20/1m0s"},
		{"environment", nil, map[string]string{
			"MCPAUTH_PASSWORD_CHECK_CONCURRENCY": "3",
			"MCPAUTH_PASSWORD_CHECK_WAIT":        "500ms",
			"MCPAUTH_LOGIN_BACKOFF":              "free=2,max=1h",
			"MCPAUTH_RATE_LIMIT":                 "login=5/m",
		}, 3, 500 * time.Millisecond, "free=2,base=1s,max=1h0m0s", "5/1m0s"},
		{"flags win", []string{"-password-check-concurrency", "1", "-password-check-wait", "-1s", "-login-backoff", "off"},
			map[string]string{"MCPAUTH_PASSWORD_CHECK_CONCURRENCY": "3", "MCPAUTH_LOGIN_BACKOFF": "free=2"},
			1, -time.Second, "off", "20/1m0s"},
	}
	for _, tt := range tests {
		o, err := parseFlags(tt.args, envMap(tt.env), io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		rate, _ := o.rateLimits.For(limits.EndpointLogin)
		if o.passwordCheckConcurrency != tt.slots || o.passwordCheckWait != tt.wait || o.loginBackoff.String() != tt.backoff || rate.String() != tt.perIP {
			t.Errorf("%s: got slots %d, wait %v, back-off %s, login rate %s; want %d, %v, %s, %s", tt.name,
				o.passwordCheckConcurrency, o.passwordCheckWait, o.loginBackoff, rate, tt.slots, tt.wait, tt.backoff, tt.perIP)
		}
	}
	for _, args := range [][]string{
		{"-password-check-concurrency", "-1"},
		{"-password-check-concurrency", "many"},
		{"-password-check-wait", "soon"},
		{"-login-backoff", "max=0s"},
		{"-login-backoff", "free=2,base=1h,max=1m"},
		{"-rate-limit", "login=x"},
	} {
		_, err := parseFlags(args, envMap(nil), io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: err %v, want a usage error naming %s", args, err, args[0])
		}
	}
}
