package mcpauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	xargon2 "golang.org/x/crypto/argon2"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
)

// loginTarget is one pending authorization request with its login form's
// CSRF token and nonce cookie: all an anonymous attacker needs to make the
// server check passwords.
type loginTarget struct {
	e       *env
	req     string
	csrf    string
	cookies []*http.Cookie
}

func newLoginTarget(t testing.TB, e *env) *loginTarget {
	t.Helper()
	b := e.browser()
	resp := b.get(e.issuer + "/authorize?" + authzQuery("pub", pubRedirect, newVerifier()).Encode())
	req := location(t, resp).Query().Get("req")
	if req == "" {
		t.Fatalf("authorize: no pending request (%d %s)", resp.StatusCode, resp.Header.Get("Location"))
	}
	form := hidden(t, b.get(e.issuer+"/login?req="+url.QueryEscape(req)))
	iss, _ := url.Parse(e.issuer)
	return &loginTarget{e: e, req: req, csrf: form.Get("csrf"), cookies: b.jar.Cookies(iss)}
}

func (l *loginTarget) form(user, password string) string {
	return url.Values{"req": {l.req}, "csrf": {l.csrf}, "username": {user}, "password": {password}}.Encode()
}

// post signs in as user from remoteAddr ("host:port"), straight through
// ServeHTTP (a 503 is a valid answer here, so not through env.serve).
func (l *loginTarget) post(ctx context.Context, remoteAddr, user, password string, hdr ...string) *http.Response {
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, l.e.issuer+"/login", strings.NewReader(l.form(user, password)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Accept", "text/html")
	for _, c := range l.cookies {
		r.AddCookie(c)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	r.RemoteAddr = remoteAddr
	rec := httptest.NewRecorder()
	l.e.srv.ServeHTTP(rec, r)
	return rec.Result()
}

// checkLoginAnswer checks a login POST's status, Retry-After (-1: none)
// and that the answer is the login page carrying text.
func checkLoginAnswer(t *testing.T, name string, resp *http.Response, status, retryAfter int, text string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: got %d, want %d (%.300s)", name, resp.StatusCode, status, peek(resp))
	}
	if status == http.StatusSeeOther {
		return
	}
	ra := resp.Header.Get("Retry-After")
	if retryAfter < 0 && ra != "" || retryAfter >= 0 && ra != strconv.Itoa(retryAfter) {
		t.Errorf("%s: Retry-After %q, want %d", name, ra, retryAfter)
	}
	body := peek(resp)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, `name="password"`) || !strings.Contains(body, text) {
		t.Errorf("%s: want the login page saying %q, got %.500s", name, text, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "mcpauth_session" {
			t.Errorf("%s: a refused sign-in set a session", name)
		}
	}
}

func withBob(t testing.TB) func(*mcpauth.Config) {
	return func(c *mcpauth.Config) {
		c.Users = append(c.Users, mcpauth.PasswordUser{Username: "bob", PasswordHash: passwordHash(t), Subject: "user-bob"})
	}
}

// TestLoginBackoffPerAccount: wrong passwords for one account, from ever
// new addresses, lock that account name with an exponential, capped back-off;
// other accounts are unaffected, unknown names are throttled alike, a locked
// name costs no hashing, and the right password works once the window passes.
func TestLoginBackoffPerAccount(t *testing.T) {
	e := newEnv(t, withUsers(t), withBob(t), func(c *mcpauth.Config) {
		c.LoginBackoff = &limits.LoginBackoff{Free: 3, Base: 10 * time.Second, Max: 40 * time.Second}
	})
	l := newLoginTarget(t, e)
	const (
		wrong   = "Incorrect username or password"
		locked  = "Too many failed sign-ins for this account"
		ok, bad = http.StatusSeeOther, http.StatusUnauthorized
		tooMany = http.StatusTooManyRequests
	)
	steps := []struct {
		name       string
		advance    time.Duration
		user, pw   string
		status     int
		retryAfter int
		text       string
		hashes     int // argon2id checks this attempt runs
	}{
		{"alice free failure 1", 0, "alice", "guess1", bad, -1, wrong, 1},
		{"alice free failure 2", 0, "alice", "guess2", bad, -1, wrong, 1},
		{"alice free failure 3", 0, "alice", "guess3", bad, -1, wrong, 1},
		{"alice failure 4 locks her for 10 s", 0, "alice", "guess4", bad, -1, wrong, 1},
		{"locked: even the right password is refused, unhashed", 0, "alice", testPassword, tooMany, 10, locked, 0},
		{"still locked 9 s later", 9 * time.Second, "alice", "guess5", tooMany, 1, locked, 0},
		{"bob is unaffected", 0, "bob", testPassword, ok, -1, "", 1},
		{"unknown name costs one check", 0, "mallory", "x1", bad, -1, wrong, 1},
		{"unknown name 2", 0, "mallory", "x2", bad, -1, wrong, 1},
		{"unknown name 3", 0, "mallory", "x3", bad, -1, wrong, 1},
		{"unknown name 4 locks it", 0, "mallory", "x4", bad, -1, wrong, 1},
		{"unknown name locked like a known one", 0, "mallory", "x5", tooMany, 10, locked, 0},
		{"alice's window passed: failure 5 doubles", 1 * time.Second, "alice", "guess6", bad, -1, wrong, 1},
		{"locked 20 s", 0, "alice", "guess7", tooMany, 20, locked, 0},
		{"failure 6 doubles again", 20 * time.Second, "alice", "guess8", bad, -1, wrong, 1},
		{"locked 40 s", 0, "alice", "guess9", tooMany, 40, locked, 0},
		{"failure 7 is capped", 40 * time.Second, "alice", "guess10", bad, -1, wrong, 1},
		{"locked 40 s (the cap)", 0, "alice", "guess11", tooMany, 40, locked, 0},
		{"after the window the right password works", 40 * time.Second, "alice", testPassword, ok, -1, "", 1},
		{"a success forgets the failures", 0, "alice", "guess12", bad, -1, wrong, 1},
		{"free again", 0, "alice", "guess13", bad, -1, wrong, 1},
	}
	for i, st := range steps {
		e.clock.Advance(st.advance)
		before := mcpauth.PasswordChecksRun(e.srv)
		// Every guess from another address and another network.
		addr := "198.51.100." + strconv.Itoa(i+1) + ":4000"
		if i%2 == 1 {
			addr = "[2001:db8:" + strconv.Itoa(i+1) + "::1]:4000"
		}
		resp := l.post(context.Background(), addr, st.user, st.pw)
		checkLoginAnswer(t, st.name, resp, st.status, st.retryAfter, st.text)
		if got := mcpauth.PasswordChecksRun(e.srv) - before; got != st.hashes {
			t.Errorf("%s: ran %d password checks, want %d", st.name, got, st.hashes)
		}
	}
}

// TestLoginRateLimitByAddress: password attempts are limited per client
// address, and an IPv6 client by its /64, for the login page and every
// other rate limit.
func TestLoginRateLimitByAddress(t *testing.T) {
	e := newEnv(t, withUsers(t), func(c *mcpauth.Config) {
		c.RateLimits = &limits.RateLimits{Limits: map[string]limits.Rate{
			limits.EndpointLogin:   {Requests: 2, Per: time.Minute},
			limits.EndpointToken:   {Requests: 1, Per: time.Minute},
			limits.EndpointDefault: {Requests: 1000, Per: time.Minute},
		}}
		c.LoginBackoff = &limits.LoginBackoff{Disabled: true}
		c.TrustForwardedFor = true
	})
	l := newLoginTarget(t, e)
	const network = "Too many sign-in attempts from your network"
	logins := []struct {
		name, addr string
		xff        string
		status     int
	}{
		{"v6 first", "[2001:db8:1:2::1]:1000", "", 401},
		{"v6 same /64, other address", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:1000", "", 401},
		{"v6 same /64 exhausted", "[2001:db8:1:2:abcd::9]:2000", "", 429},
		{"v6 other /64", "[2001:db8:1:3::1]:1000", "", 401},
		{"v4 first", "203.0.113.1:1000", "", 401},
		{"v4 second", "203.0.113.1:1001", "", 401},
		{"v4 exhausted", "203.0.113.1:1002", "", 429},
		{"v4 neighbour has its own bucket", "203.0.113.2:1000", "", 401},
		{"v4-mapped v6 is the v4 address", "[::ffff:203.0.113.1]:1000", "", 429},
		{"forwarded v6", "10.0.0.1:1", "192.0.2.1, 2001:db8:9:9::1", 401},
		{"forwarded v6 same /64", "10.0.0.1:1", "2001:db8:9:9::2", 401},
		{"forwarded v6 same /64 exhausted", "10.0.0.1:1", "[2001:db8:9:9:1::3]", 429},
	}
	for _, tt := range logins {
		resp := l.post(context.Background(), tt.addr, "user-"+tt.name, "wrong", "X-Forwarded-For", tt.xff)
		switch tt.status {
		case 429:
			checkLoginAnswer(t, tt.name, resp, 429, 30, network) // 2 a minute: one every 30 s
		default:
			checkLoginAnswer(t, tt.name, resp, tt.status, -1, "Incorrect username or password")
		}
	}

	// The same keying for every endpoint's limit (here /token, 1 a minute).
	tok := url.Values{"grant_type": {"password"}}
	tokens := []struct {
		name, addr string
		limited    bool
	}{
		{"v6", "[2001:db8:5:5::1]:1", false},
		{"v6 same /64", "[2001:db8:5:5::2]:1", true},
		{"v6 other /64", "[2001:db8:5:6::1]:1", false},
	}
	for _, tt := range tokens {
		r := e.req(http.MethodPost, "/token", strings.NewReader(tok.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = tt.addr
		if got := e.serve(r).StatusCode == 429; got != tt.limited {
			t.Errorf("token %s: limited %v, want %v", tt.name, got, tt.limited)
		}
	}
}

// TestLoginBusy: with every password-check slot taken, a sign-in waits at
// most PasswordCheckWait and then gets the login page with 503 and
// Retry-After; a waiting one proceeds when a slot frees.
func TestLoginBusy(t *testing.T) {
	t.Run("queue full: 503 and Retry-After", func(t *testing.T) {
		e := newEnv(t, withUsers(t), func(c *mcpauth.Config) {
			c.PasswordCheckConcurrency = 2
			c.PasswordCheckWait = -1 // no waiting: the deterministic case
		})
		if got := mcpauth.PasswordCheckSlots(e.srv); got != 2 {
			t.Fatalf("slots = %d, want 2", got)
		}
		l := newLoginTarget(t, e)
		release := mcpauth.HoldPasswordChecks(e.srv)
		before := mcpauth.PasswordChecksRun(e.srv)
		resp := l.post(context.Background(), "192.0.2.1:1", "alice", testPassword)
		checkLoginAnswer(t, "busy", resp, http.StatusServiceUnavailable, 1, "The server is busy")
		if got := mcpauth.PasswordChecksRun(e.srv); got != before {
			t.Errorf("a refused sign-in ran %d checks", got-before)
		}
		release()
		checkLoginAnswer(t, "slot free again", l.post(context.Background(), "192.0.2.1:1", "alice", testPassword), http.StatusSeeOther, -1, "")
	})
	t.Run("Retry-After follows PasswordCheckWait", func(t *testing.T) {
		e := newEnv(t, withUsers(t), func(c *mcpauth.Config) { c.PasswordCheckWait = 3 * time.Millisecond })
		l := newLoginTarget(t, e)
		defer mcpauth.HoldPasswordChecks(e.srv)()
		checkLoginAnswer(t, "busy", l.post(context.Background(), "192.0.2.1:1", "alice", testPassword), 503, 1, "The server is busy")
	})
	t.Run("a waiting sign-in proceeds when a slot frees", func(t *testing.T) {
		e := newEnv(t, withUsers(t), func(c *mcpauth.Config) { c.PasswordCheckWait = time.Hour })
		l := newLoginTarget(t, e)
		release := mcpauth.HoldPasswordChecks(e.srv)
		done := make(chan *http.Response)
		go func() { done <- l.post(context.Background(), "192.0.2.1:1", "alice", testPassword) }()
		waitFor(t, func() bool { return mcpauth.PasswordChecksWaiting(e.srv) == 1 })
		release()
		checkLoginAnswer(t, "waited", <-done, http.StatusSeeOther, -1, "")
	})
	t.Run("a client that leaves stops waiting", func(t *testing.T) {
		e := newEnv(t, withUsers(t), func(c *mcpauth.Config) { c.PasswordCheckWait = time.Hour })
		l := newLoginTarget(t, e)
		defer mcpauth.HoldPasswordChecks(e.srv)()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan *http.Response)
		go func() { done <- l.post(ctx, "192.0.2.1:1", "alice", testPassword) }()
		waitFor(t, func() bool { return mcpauth.PasswordChecksWaiting(e.srv) == 1 })
		cancel()
		if resp := <-done; resp.StatusCode != 503 {
			t.Errorf("got %d, want 503", resp.StatusCode)
		}
		if got := mcpauth.PasswordChecksWaiting(e.srv); got != 0 {
			t.Errorf("%d still waiting", got)
		}
	})
	t.Run("default: one per CPU, at most 4", func(t *testing.T) {
		e := newEnv(t, withUsers(t))
		if got, want := mcpauth.PasswordCheckSlots(e.srv), min(runtime.GOMAXPROCS(0), 4); got != want {
			t.Errorf("slots = %d, want %d", got, want)
		}
	})
}

// waitFor polls cond until it holds (a state, not a duration, is awaited).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoginBoundsConfig(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*mcpauth.Config)
		field string
	}{
		{"negative concurrency", func(c *mcpauth.Config) { c.PasswordCheckConcurrency = -1 }, "PasswordCheckConcurrency"},
		{"base over max", func(c *mcpauth.Config) {
			c.LoginBackoff = &limits.LoginBackoff{Base: time.Hour, Max: time.Minute}
		}, "LoginBackoff"},
		{"negative free", func(c *mcpauth.Config) { c.LoginBackoff = &limits.LoginBackoff{Free: -1} }, "LoginBackoff"},
		{"max over a day", func(c *mcpauth.Config) { c.LoginBackoff = &limits.LoginBackoff{Max: 48 * time.Hour} }, "LoginBackoff"},
	}
	for _, tt := range tests {
		cfg := mcpauth.Config{Issuer: testIssuer, Scopes: []string{"read"}, Users: []mcpauth.PasswordUser{{Username: "alice", PasswordHash: passwordHash(t)}}}
		tt.edit(&cfg)
		_, err := mcpauth.NewServer(cfg)
		var ce *mcpauth.ConfigError
		if !errors.As(err, &ce) || ce.Field != tt.field {
			t.Errorf("%s: got %v, want a ConfigError for %s", tt.name, err, tt.field)
		}
	}
}

func TestParseLoginBackoff(t *testing.T) {
	tests := []struct {
		in   string
		want string // String() of the result, or "error"
	}{
		{"", "free=5,base=1s,max=15m0s"},
		{"default", "free=5,base=1s,max=15m0s"},
		{"off", "off"},
		{"free=0,base=2s,max=1h", "free=0,base=2s,max=1h0m0s"},
		{"max=30m", "free=5,base=1s,max=30m0s"},
		{"free=-1", "error"},
		{"base=2h", "error"},
		{"max=0s", "error"},
		{"speed=3", "error"},
		{"free", "error"},
		{"free=x", "error"},
	}
	for _, tt := range tests {
		b, err := limits.ParseLoginBackoff(tt.in)
		got := "error"
		if err == nil {
			got = b.String()
		}
		if got != tt.want {
			t.Errorf("ParseLoginBackoff(%q) = %s (%v), want %s", tt.in, got, err, tt.want)
		}
	}
}

// TestLoginUnknownNameCostsTheSame: an unknown name is checked against a
// dummy hash with the configured users' argon2id parameters, also when
// those differ from HashPassword's, so its answer takes as long.
func TestLoginUnknownNameCostsTheSame(t *testing.T) {
	salt := []byte("0123456789abcdef0123")
	custom := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", xargon2.Version, 8*1024, 3, 2,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(xargon2.IDKey([]byte(testPassword), salt, 3, 8*1024, 2, 24)))
	tests := []struct {
		name string
		hash string
		want string
	}{
		{"HashPassword's parameters", passwordHash(t), "m=19456,t=2,p=1,salt=16,key=32"},
		{"a costlier hash made elsewhere", custom, "m=8192,t=3,p=2,salt=20,key=24"},
	}
	for _, tt := range tests {
		e := newEnv(t, func(c *mcpauth.Config) {
			c.Authenticator = nil
			c.Users = []mcpauth.PasswordUser{{Username: "alice", PasswordHash: tt.hash}}
		})
		if got := mcpauth.DummyHashParams(e.srv); got != tt.want {
			t.Errorf("%s: dummy hash %s, want %s", tt.name, got, tt.want)
		}
		l := newLoginTarget(t, e)
		for _, user := range []string{"alice", "nobody"} {
			before := mcpauth.PasswordChecksRun(e.srv)
			checkLoginAnswer(t, tt.name+"/"+user, l.post(context.Background(), "192.0.2.1:1", user, "wrong"), 401, -1, "Incorrect username or password")
			if got := mcpauth.PasswordChecksRun(e.srv) - before; got != 1 {
				t.Errorf("%s/%s: %d password checks, want 1", tt.name, user, got)
			}
		}
		checkLoginAnswer(t, tt.name+"/right password", l.post(context.Background(), "192.0.2.1:1", "alice", testPassword), 303, -1, "")
	}
}
