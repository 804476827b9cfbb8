package mcpauth_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

const (
	feedRedirect = "http://127.0.0.1/cb"
	feedRSSecret = "rs-secret-0123456789abcdef"
	feedOpSecret = "operator-secret-0123456789abcdef"
)

// feedAS is an authorization server on a real listener, with "cli" (a
// public client), "rs" (a confidential introspector) and "other" (a
// confidential client that is not one).
type feedAS struct {
	srv    *mcpauth.Server
	ts     *httptest.Server
	issuer string
	grants store.GrantStore
}

func newFeedAS(t *testing.T, edit func(*mcpauth.Config)) *feedAS {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	a := &feedAS{ts: ts, issuer: "http://" + ts.Listener.Addr().String(), grants: store.NewMemoryGrantStore(nil)}
	cfg := mcpauth.Config{
		Issuer:        a.issuer,
		Scopes:        []string{"read"},
		Authenticator: mcpauthtest.AutoApprove("alice"),
		StaticClients: []store.Client{
			{ID: "cli", ClientMetadata: store.ClientMetadata{Name: "CLI", RedirectURIs: []string{feedRedirect}, TokenEndpointAuthMethod: "none"}},
			{ID: "rs", ClientSecret: feedRSSecret, ClientMetadata: store.ClientMetadata{Name: "Resource server", RedirectURIs: []string{feedRedirect}}},
			{ID: "other", ClientSecret: feedRSSecret, ClientMetadata: store.ClientMetadata{Name: "Other", RedirectURIs: []string{feedRedirect}}},
		},
		Introspectors:  []string{"rs"},
		RevocationFeed: mcpauth.RevocationFeedConfig{OperatorSecret: feedOpSecret},
		Grants:         a.grants,
		RateLimits:     &limits.RateLimits{Disabled: true},
		Logger:         slog.New(slog.DiscardHandler),
	}
	if edit != nil {
		edit(&cfg)
	}
	a.grants = cfg.Grants
	srv, err := mcpauth.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.srv = srv
	ts.Config.Handler = srv
	ts.Start()
	t.Cleanup(func() {
		srv.Close() // ends the feed streams, so ts.Close does not wait on them
		ts.Close()
	})
	return a
}

// gate stands between verifiers and a feed: closed, it ends the streams
// going through it and answers 503, as a network partition would.
type gate struct {
	mu     sync.Mutex
	open   bool
	ctx    context.Context
	cancel context.CancelFunc
	next   http.Handler
}

func newGate(t *testing.T, next http.Handler) (*gate, string) {
	g := &gate{next: next}
	g.set(true)
	ts := httptest.NewServer(g)
	t.Cleanup(func() { g.set(false); ts.Close() })
	return g, ts.URL
}

func (g *gate) set(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cancel != nil {
		g.cancel()
	}
	g.open = open
	g.ctx, g.cancel = context.WithCancel(context.Background())
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	open, gctx := g.open, g.ctx
	g.mu.Unlock()
	if !open {
		http.Error(w, "partitioned", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(gctx, cancel)
	defer stop()
	g.next.ServeHTTP(w, r.WithContext(ctx))
}

func feedVerifier(t *testing.T, a *feedAS, feedURL string, edit func(*mcpauth.VerifierOptions)) *mcpauth.Verifier {
	t.Helper()
	opts := mcpauth.VerifierOptions{
		Issuer: a.issuer, Audience: a.issuer, FeedURL: feedURL,
		FeedClientID: "rs", FeedClientSecret: feedRSSecret,
		Logger: slog.New(slog.DiscardHandler),
	}
	if edit != nil {
		edit(&opts)
	}
	v, err := mcpauth.NewVerifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// eventually polls cond until it holds, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func connected(v *mcpauth.Verifier) func() bool {
	return func() bool { return v.RevocationFeedStatus().Connected }
}

func refused(v *mcpauth.Verifier, token string) func() bool {
	return func() bool {
		_, err := v.Verify(context.Background(), token)
		return errors.Is(err, mcpauth.ErrInvalidToken)
	}
}

func mustVerify(t *testing.T, v *mcpauth.Verifier, token string) {
	t.Helper()
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// TestRevocationFeedAuth: only the operator secret and introspector
// clients read the feed; everyone else gets an RFC 6749 §5.2 answer.
func TestRevocationFeedAuth(t *testing.T) {
	a := newFeedAS(t, nil)
	basicAuth := func(id, sec string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+sec))
	}
	for _, tc := range []struct {
		name, method, auth, lastID string
		status                     int
		errCode                    string
	}{
		{"none", "GET", "", "", 401, "invalid_client"},
		{"wrong secret", "GET", basicAuth("rs", "nope"), "", 401, "invalid_client"},
		{"unknown client", "GET", basicAuth("ghost", feedRSSecret), "", 401, "invalid_client"},
		{"not an introspector", "GET", basicAuth("other", feedRSSecret), "", 403, "access_denied"},
		{"public client", "GET", basicAuth("cli", ""), "", 401, "invalid_client"},
		{"wrong operator secret", "GET", "Bearer " + feedOpSecret + "x", "", 401, "invalid_client"},
		{"access token is not a credential", "GET", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig", "", 401, "invalid_client"},
		{"POST", "POST", basicAuth("rs", feedRSSecret), "", 405, ""},
		{"bad Last-Event-ID", "GET", basicAuth("rs", feedRSSecret), "x1", 400, "invalid_request"},
		{"introspector", "GET", basicAuth("rs", feedRSSecret), "", 200, ""},
		{"operator secret", "GET", "Bearer " + feedOpSecret, "", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, tc.method, a.issuer+mcpauth.RevocationFeedPath, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.lastID != "" {
				req.Header.Set("Last-Event-ID", tc.lastID)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == 200 {
				if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
					t.Errorf("Content-Type %q", ct)
				}
				return
			}
			if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 without a Basic challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
			var body struct{ Error string }
			if tc.errCode != "" && (json.NewDecoder(resp.Body).Decode(&body) != nil || body.Error != tc.errCode) {
				t.Errorf("error %q, want %q", body.Error, tc.errCode)
			}
		})
	}
}

// readSSE reads SSE messages (event, id, data) from the feed until n
// have come.
func readSSE(t *testing.T, a *feedAS, lastID string, n int) [][3]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.issuer+mcpauth.RevocationFeedPath, nil)
	req.Header.Set("Authorization", "Bearer "+feedOpSecret)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out [][3]string
	var cur [3]string
	sc := bufio.NewScanner(resp.Body)
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur != ([3]string{}) {
				out = append(out, cur)
			}
			cur = [3]string{}
		case strings.HasPrefix(line, "event: "):
			cur[0] = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			cur[1] = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			cur[2] = strings.TrimPrefix(line, "data: ")
		}
	}
	if len(out) < n {
		t.Fatalf("feed gave %d messages, want %d: %v (%v)", len(out), n, out, sc.Err())
	}
	return out
}

// TestRevocationFeedFormat: each revocation is an SSE message whose data
// is an RFC 8417 SET (typ secevent+jwt) naming the jti or grant, then a
// sync; a resume id outside the retention starts with a reset.
func TestRevocationFeedFormat(t *testing.T) {
	a := newFeedAS(t, nil)
	access, refresh := mcpauthtest.Tokens(t, a.issuer, "cli", feedRedirect, "")
	mcpauthtest.Revoke(t, a.issuer, "cli", access)
	mcpauthtest.Revoke(t, a.issuer, "cli", refresh)
	msgs := readSSE(t, a, "", 3)
	if msgs[0][0] != "revocation" || msgs[0][1] != "1" || msgs[1][0] != "revocation" || msgs[1][1] != "2" || msgs[2][0] != "sync" {
		t.Fatalf("messages %v", msgs)
	}
	_, claims := jwtParts(t, access)
	jti, grant := claims["jti"].(string), claims["grnt"].(string)
	for i, want := range []struct{ typ, key, val string }{
		{mcpauth.SETEventTokenRevoked, "jti", jti},
		{mcpauth.SETEventGrantRevoked, "grant_id", grant},
	} {
		hdr, set := jwtParts(t, msgs[i][2])
		if hdr["typ"] != "secevent+jwt" || hdr["kid"] == nil {
			t.Errorf("SET header %v", hdr)
		}
		ev, _ := set["events"].(map[string]any)[want.typ].(map[string]any)
		if set["iss"] != a.issuer || set["jti"] != msgs[i][1] || ev == nil || ev[want.key] != want.val || ev["exp"] == nil {
			t.Errorf("SET %d claims %v, want event %s with %s=%s", i, set, want.typ, want.key, want.val)
		}
	}
	// Resuming: after 1 only 2; past the head (another store) a reset first.
	if m := readSSE(t, a, "1", 1); m[0][1] != "2" {
		t.Errorf("resume after 1: %v", m)
	}
	if m := readSSE(t, a, "99", 2); m[0][0] != "reset" || m[1][1] != "1" {
		t.Errorf("resume past the head: %v", m)
	}
	// Below the floor (events swept): a reset, then what is retained.
	if _, err := a.grants.DeleteExpiredRevocations(t.Context(), time.Now().Add(24*time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	if m := readSSE(t, a, "0", 2); m[0][1] != "2" {
		t.Errorf("fresh reader after a sweep: %v", m)
	}
	if m := readSSE(t, a, "1", 1); m[0][0] != "revocation" {
		t.Errorf("resume at the floor: %v", m)
	}
	a.grants.DeleteExpiredRevocations(t.Context(), time.Now().AddDate(1, 0, 0), 1)
	appended, _ := a.grants.AppendRevocation(t.Context(), store.RevocationEvent{TokenID: "x", ExpiresAt: time.Now().Add(time.Hour)})
	if m := readSSE(t, a, "1", 2); m[0][0] != "reset" || m[1][1] != itoa(appended) {
		t.Errorf("resume below the floor: %v", m)
	}
	// The SET is not an access token.
	v := feedVerifier(t, a, "", nil)
	if _, err := v.Verify(t.Context(), msgs[0][2]); !errors.Is(err, mcpauth.ErrInvalidToken) {
		t.Errorf("a SET verified as an access token: %v", err)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestRevocationFeedRemoteVerifier: a remote Verifier following the feed
// refuses a revoked access token, and every token of a grant revoked by
// its refresh token, although it had both cached.
func TestRevocationFeedRemoteVerifier(t *testing.T) {
	a := newFeedAS(t, nil)
	v := feedVerifier(t, a, "", nil)
	eventually(t, "feed connected", connected(v))
	access, _ := mcpauthtest.Tokens(t, a.issuer, "cli", feedRedirect, "")
	other, otherRefresh := mcpauthtest.Tokens(t, a.issuer, "cli", feedRedirect, "")
	mustVerify(t, v, access)
	mustVerify(t, v, other)
	mcpauthtest.Revoke(t, a.issuer, "cli", access)
	eventually(t, "revoked access token refused", refused(v, access))
	mustVerify(t, v, other)
	mcpauthtest.Revoke(t, a.issuer, "cli", otherRefresh)
	eventually(t, "token of a revoked grant refused", refused(v, other))
	if st := v.RevocationFeedStatus(); !st.Enabled || !st.Connected || st.LastEventID != 2 {
		t.Errorf("status %+v", st)
	}
}

// TestRevocationFeedDisconnect: a revocation made while the verifier is
// cut off is applied when it reconnects (resuming from its last event
// id); meanwhile it fails open, or closed when FeedFailClosed says so.
func TestRevocationFeedDisconnect(t *testing.T) {
	a := newFeedAS(t, nil)
	g, url := newGate(t, a.srv)
	open := feedVerifier(t, a, url+mcpauth.RevocationFeedPath, nil)
	closed := feedVerifier(t, a, url+mcpauth.RevocationFeedPath, func(o *mcpauth.VerifierOptions) { o.FeedFailClosed = time.Millisecond })
	eventually(t, "feeds connected", func() bool { return connected(open)() && connected(closed)() })
	first, _ := mcpauthtest.Tokens(t, a.issuer, "cli", feedRedirect, "")
	mcpauthtest.Revoke(t, a.issuer, "cli", first) // so the reconnect resumes from an id
	eventually(t, "first revocation applied", refused(open, first))
	access, _ := mcpauthtest.Tokens(t, a.issuer, "cli", feedRedirect, "")
	mustVerify(t, open, access)
	mustVerify(t, closed, access)

	g.set(false)
	eventually(t, "feed down", func() bool { return !connected(open)() && !connected(closed)() })
	mcpauthtest.Revoke(t, a.issuer, "cli", access)
	// Fail open: the cached token still passes, on signature and expiry.
	mustVerify(t, open, access)
	// Fail closed: every token is 503.
	time.Sleep(2 * time.Millisecond)
	if _, err := closed.Verify(t.Context(), access); !errors.Is(err, mcpauth.ErrUnavailable) {
		t.Errorf("fail-closed verifier with the feed down: %v, want ErrUnavailable", err)
	}
	if st := open.RevocationFeedStatus(); st.Connected || st.Err == nil || st.LastEventID != 1 {
		t.Errorf("status while down %+v", st)
	}

	g.set(true)
	eventually(t, "feeds reconnected", func() bool { return connected(open)() && connected(closed)() })
	// Connected means caught up: the missed revocation is already applied.
	for _, v := range []*mcpauth.Verifier{open, closed} {
		if _, err := v.Verify(t.Context(), access); !errors.Is(err, mcpauth.ErrInvalidToken) {
			t.Errorf("after reconnect: %v, want the revoked token refused", err)
		}
	}
}

// TestRevocationFeedLocalAcrossReplicas: two Servers sharing a store; a
// Local verifier on A drops a cached token revoked on B at once, not
// after TokenCacheTTL.
func TestRevocationFeedLocalAcrossReplicas(t *testing.T) {
	grants, keys, clients := store.NewMemoryGrantStore(nil), store.NewMemoryKeyStore(), store.NewMemoryClientStore()
	shared := func(c *mcpauth.Config) { c.Grants, c.Keys, c.Clients = grants, keys, clients }
	a := newFeedAS(t, shared)
	b := newFeedAS(t, func(c *mcpauth.Config) { shared(c); c.Issuer = a.issuer })
	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{Local: a.srv, Audience: a.issuer, TokenCacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	access, _ := mcpauthtest.Tokens(t, a.issuer, "cli", feedRedirect, "")
	mustVerify(t, v, access)
	mcpauthtest.Revoke(t, b.ts.URL, "cli", access)
	eventually(t, "replica A's cache drops a token revoked on B", refused(v, access))
}

// TestRevocationFeedVerifierOptions: feed options are checked.
func TestRevocationFeedVerifierOptions(t *testing.T) {
	for _, tc := range []mcpauth.VerifierOptions{
		{Issuer: "https://as.example", FeedClientID: "rs"},
		{Issuer: "https://as.example", FeedClientSecret: "s"},
		{Issuer: "https://as.example", FeedFailClosed: time.Second},
		{Local: newFeedAS(t, nil).srv, FeedToken: "op"},
		{JWKSURL: "https://as.example/jwks", TokenIssuer: "https://as.example", FeedToken: "op"},
	} {
		if v, err := mcpauth.NewVerifier(tc); err == nil {
			v.Close()
			t.Errorf("NewVerifier(%+v) accepted", tc)
		}
	}
}

// TestRevocationFeedMaxStreams: beyond RevocationFeed.MaxStreams a reader
// gets 503 temporarily_unavailable with Retry-After, and a slot frees
// when a stream ends.
func TestRevocationFeedMaxStreams(t *testing.T) {
	a := newFeedAS(t, func(c *mcpauth.Config) { c.RevocationFeed.MaxStreams = 1 })
	open := func(ctx context.Context) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "GET", a.issuer+mcpauth.RevocationFeedPath, nil)
		req.Header.Set("Authorization", "Bearer "+feedOpSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	ctx, cancel := context.WithCancel(t.Context())
	first := open(ctx)
	if first.StatusCode != http.StatusOK {
		t.Fatalf("first stream: %d", first.StatusCode)
	}
	second := open(t.Context())
	second.Body.Close()
	if second.StatusCode != http.StatusServiceUnavailable || second.Header.Get("Retry-After") == "" {
		t.Fatalf("second stream: %d, Retry-After %q; want 503 with Retry-After", second.StatusCode, second.Header.Get("Retry-After"))
	}
	cancel()
	first.Body.Close()
	eventually(t, "a slot frees when the stream ends", func() bool {
		resp := open(t.Context())
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// brokenWatch is a grant store whose revocation watch always fails, as a
// PostgreSQL replica whose LISTEN connection cannot be made.
type brokenWatch struct{ store.GrantStore }

func (brokenWatch) WatchRevocations(context.Context, func()) error {
	return errors.Join(mcpauth.ErrUnavailable, errors.New("LISTEN failed"))
}

// TestRevocationFeedWatchDown: a replica that cannot watch the store's
// feed reports degraded and still learns of other replicas' revocations
// by polling (RevocationFeed.PollInterval).
func TestRevocationFeedWatchDown(t *testing.T) {
	grants, keys, clients := store.NewMemoryGrantStore(nil), store.NewMemoryKeyStore(), store.NewMemoryClientStore()
	a := newFeedAS(t, func(c *mcpauth.Config) {
		c.Grants, c.Keys, c.Clients = brokenWatch{grants}, keys, clients
		c.RevocationFeed.PollInterval = 20 * time.Millisecond
	})
	b := newFeedAS(t, func(c *mcpauth.Config) { c.Grants, c.Keys, c.Clients, c.Issuer = grants, keys, clients, a.issuer })
	eventually(t, "replica A degraded", a.srv.RevocationFeedDegraded)
	if b.srv.RevocationFeedDegraded() {
		t.Error("replica B degraded")
	}
	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{Local: a.srv, Audience: a.issuer, TokenCacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	access, _ := mcpauthtest.Tokens(t, a.issuer, "cli", feedRedirect, "")
	mustVerify(t, v, access)
	mcpauthtest.Revoke(t, b.ts.URL, "cli", access)
	eventually(t, "replica A polls the revocation in", refused(v, access))
}

// TestRevocationFeedDelegatedTree: revoking a root grant (here through
// Server.RevokeGrant, the host's call) reaches a remote verifier for the
// tokens of grants delegated from it too, which carry their own grant ids.
func TestRevocationFeedDelegatedTree(t *testing.T) {
	a := newFeedAS(t, nil)
	v := feedVerifier(t, a, "", nil)
	eventually(t, "feed connected", connected(v))
	parent, _ := mcpauthtest.Tokens(t, a.issuer, "cli", feedRedirect, "")
	resp, err := http.PostForm(a.issuer+"/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "client_id": {"cli"},
		"subject_token": {parent}, "subject_token_type": {mcpauth.TokenTypeAccessToken},
	})
	if err != nil {
		t.Fatal(err)
	}
	var child struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&child)
	resp.Body.Close()
	if child.AccessToken == "" {
		t.Fatalf("token exchange: %d", resp.StatusCode)
	}
	mustVerify(t, v, parent)
	mustVerify(t, v, child.AccessToken)
	root, err := v.Verify(t.Context(), parent)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.srv.RevokeGrant(t.Context(), root.GrantID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "root token refused", refused(v, parent))
	eventually(t, "delegated token refused", refused(v, child.AccessToken))
}
