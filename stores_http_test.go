package mcpauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store"
)

// serveRaw runs a request without env.serve's no-5xx rule, for tests that
// expect 503.
func (e *env) serveRaw(r *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, r)
	return rec.Result()
}

func (e *env) postFormRaw(path string, v url.Values) *http.Response {
	r := e.req(http.MethodPost, path, strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.serveRaw(r)
}

// failingWrites is a GrantStore whose next store write after a code was
// consumed fails as an outage: RedeemCode, or SaveRefresh where a handler
// saves the refresh token after consuming the code.
type failingWrites struct {
	store.GrantStore
	fail atomic.Int32 // failures left
}

func (f *failingWrites) RedeemCode(ctx context.Context, d string, r *store.Redemption) (*store.CodeRecord, error) {
	if f.fail.Add(-1) >= 0 {
		return nil, mcpauth.ErrUnavailable
	}
	return f.GrantStore.RedeemCode(ctx, d, r)
}

func (f *failingWrites) SaveRefresh(ctx context.Context, d string, r *store.RefreshRecord) error {
	if f.fail.Add(-1) >= 0 {
		return mcpauth.ErrUnavailable
	}
	return f.GrantStore.SaveRefresh(ctx, d, r)
}

// TestCodeRedemptionAllOrNothing: a /token that fails storing the tokens
// leaves the code redeemable, so the client's retry gets tokens instead of
// being taken for a code replay that revokes the grant (issue 9.6).
func TestCodeRedemptionAllOrNothing(t *testing.T) {
	var fw *failingWrites
	e := newEnv(t, func(c *mcpauth.Config) {
		fw = &failingWrites{GrantStore: c.Grants}
		c.Grants = fw
	})
	code, verifier := e.code("pub", pubRedirect, nil)
	fw.fail.Store(1)
	resp := e.postFormRaw("/token", tokenReq("pub", code, verifier, pubRedirect))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("token with a failing store: status %d, Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code, _ := oauthError(t, resp); code != "temporarily_unavailable" {
		t.Fatalf("token with a failing store: error %q, want temporarily_unavailable", code)
	}
	resp = e.postForm("/token", tokenReq("pub", code, verifier, pubRedirect))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("retry: status %d, body %s; want the tokens", resp.StatusCode, peek(resp))
	}
	m := jsonBody(t, resp)
	if !e.active(m["access_token"].(string)) || !e.active(m["refresh_token"].(string)) {
		t.Fatal("tokens of the retry are not active: the grant was revoked")
	}
	if resp := e.refresh("pub", m["refresh_token"].(string), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh after the retry: status %d", resp.StatusCode)
	}
	// The code is spent now: a third use is a replay and ends the grant.
	if code, _ := oauthError(t, e.postForm("/token", tokenReq("pub", code, verifier, pubRedirect))); code != "invalid_grant" {
		t.Fatalf("replay after success: %q, want invalid_grant", code)
	}
	if e.active(m["access_token"].(string)) {
		t.Fatal("replay did not revoke the grant")
	}
}

// TestRefreshRetryWindow: a client that lost the answer to a refresh may
// retry with the token it just rotated, within the window, once; everything
// else is reuse that ends the grant (issue 9.6, OAuth 2.1 §4.3.1).
func TestRefreshRetryWindow(t *testing.T) {
	type step struct {
		client  string
		token   string // "rt1" (the first token), "rt2" (the lost successor), "rt3" (the retry's token)
		advance time.Duration
		want    string // "" for 200
	}
	for _, tc := range []struct {
		name        string
		window      time.Duration
		steps       []step
		grantAlive  bool
		activeAfter []string
	}{
		{"retry within the window", 0, []step{{"pub", "rt1", 5 * time.Second, ""}}, true, []string{"rt3"}},
		{"lost successor is dead after the retry", 0, []step{
			{"pub", "rt1", time.Second, ""}, {"pub", "rt2", 0, "invalid_grant"}}, false, nil},
		{"retry's token keeps working", 0, []step{
			{"pub", "rt1", time.Second, ""}, {"pub", "rt3", 0, ""}}, true, nil},
		{"second retry is reuse", 0, []step{
			{"pub", "rt1", time.Second, ""}, {"pub", "rt1", 0, "invalid_grant"}}, false, nil},
		{"after the window", 0, []step{{"pub", "rt1", 11 * time.Second, "invalid_grant"}}, false, nil},
		{"another client", 0, []step{{"other", "rt1", time.Second, "invalid_grant"}}, false, nil},
		{"window disabled", -1, []step{{"pub", "rt1", time.Second, "invalid_grant"}}, false, nil},
		{"successor used first", 0, []step{
			{"pub", "rt2", time.Second, ""}, {"pub", "rt1", 0, "invalid_grant"}}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *mcpauth.Config) { c.RefreshRetryWindow = tc.window })
			m := e.tokens("pub", nil)
			toks := map[string]string{"rt1": m["refresh_token"].(string)}
			first := jsonBody(t, e.refresh("pub", toks["rt1"], nil)) // its answer is "lost"
			toks["rt2"], toks["at2"] = first["refresh_token"].(string), first["access_token"].(string)
			for i, s := range tc.steps {
				e.clock.Advance(s.advance)
				resp := e.refresh(s.client, toks[s.token], nil)
				if s.want == "" {
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("step %d (%s presents %s): status %d, body %s; want 200", i, s.client, s.token, resp.StatusCode, peek(resp))
					}
					if _, ok := toks["rt3"]; !ok {
						toks["rt3"] = jsonBody(t, resp)["refresh_token"].(string)
					}
					continue
				}
				if code, _ := oauthError(t, resp); code != s.want {
					t.Fatalf("step %d (%s presents %s): error %q, want %q", i, s.client, s.token, code, s.want)
				}
			}
			if alive := e.active(m["access_token"].(string)); alive != tc.grantAlive {
				t.Errorf("grant alive = %v, want %v", alive, tc.grantAlive)
			}
			if tc.grantAlive && (e.active(toks["rt2"]) || e.active(toks["at2"])) {
				t.Error("the lost refresh or access token is still active after the retry")
			}
			for _, k := range tc.activeAfter {
				if !e.active(toks[k]) {
					t.Errorf("%s is not active", k)
				}
			}
		})
	}
}

// blockingGrants blocks the token endpoint's store reads until the call's
// context ends (a partitioned database), or the test ends.
type blockingGrants struct {
	store.GrantStore
	block   atomic.Bool
	release chan struct{}
}

func (b *blockingGrants) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.release:
		return mcpauth.ErrUnavailable
	}
}

func (b *blockingGrants) GetCode(ctx context.Context, d string) (*store.CodeRecord, error) {
	if b.block.Load() {
		return nil, b.wait(ctx)
	}
	return b.GrantStore.GetCode(ctx, d)
}

func (b *blockingGrants) ConsumeCode(ctx context.Context, d string) (*store.CodeRecord, error) {
	if b.block.Load() {
		return nil, b.wait(ctx)
	}
	return b.GrantStore.ConsumeCode(ctx, d)
}

func (b *blockingGrants) GetRefresh(ctx context.Context, d string) (*store.RefreshRecord, error) {
	if b.block.Load() {
		return nil, b.wait(ctx)
	}
	return b.GrantStore.GetRefresh(ctx, d)
}

func (b *blockingGrants) LookupRefresh(ctx context.Context, d string) (*store.RefreshRecord, error) {
	if b.block.Load() {
		return nil, b.wait(ctx)
	}
	return b.GrantStore.LookupRefresh(ctx, d)
}

// TestStoreDeadline: a store that does not answer gives JSON 503
// temporarily_unavailable with Retry-After after Config.StoreTimeout, not a
// request that hangs with it (issue 9.7).
func TestStoreDeadline(t *testing.T) {
	bg := &blockingGrants{release: make(chan struct{})}
	t.Cleanup(func() { close(bg.release) })
	e := newEnv(t, func(c *mcpauth.Config) {
		bg.GrantStore = c.Grants
		c.Grants = bg
		c.StoreTimeout = 50 * time.Millisecond
	})
	m := e.tokens("pub", nil)
	code, verifier := e.code("pub", pubRedirect, nil)
	bg.block.Store(true)
	for name, form := range map[string]url.Values{
		"authorization_code": tokenReq("pub", code, verifier, pubRedirect),
		"refresh_token":      {"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}, "client_id": {"pub"}},
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan *http.Response, 1)
			go func() { done <- e.postFormRaw("/token", form) }()
			var resp *http.Response
			select {
			case resp = <-done:
			case <-time.After(10 * time.Second): // 200 times the deadline
				t.Fatal("/token still waits for the store after 10 s")
			}
			var body struct{ Error string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body: %v", err)
			}
			if resp.StatusCode != http.StatusServiceUnavailable || body.Error != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("got status %d, error %q, Retry-After %q; want 503 temporarily_unavailable with Retry-After",
					resp.StatusCode, body.Error, resp.Header.Get("Retry-After"))
			}
		})
	}
}

// countingPending remembers every pending digest saved, to count how many
// the store still holds.
type countingPending struct {
	store.GrantStore
	mu      sync.Mutex
	digests []string
}

func (c *countingPending) SavePending(ctx context.Context, d string, p *store.PendingAuthorization) error {
	c.mu.Lock()
	c.digests = append(c.digests, d)
	c.mu.Unlock()
	return c.GrantStore.SavePending(ctx, d, p)
}

func (c *countingPending) live(ctx context.Context) (n int, oldestLive, newestLive bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, d := range c.digests {
		if _, err := c.GrantStore.GetPending(ctx, d); err == nil {
			n++
			oldestLive = oldestLive || i == 0
			newestLive = newestLive || i == len(c.digests)-1
		}
	}
	return n, oldestLive, newestLive
}

// TestPendingAuthorizationCap: a flood of abandoned /authorize starts keeps
// the store at Config.MaxPendingAuthorizations, dropping the oldest, and a
// new sign-in still works (issue 9.3).
func TestPendingAuthorizationCap(t *testing.T) {
	const limit = 40
	var cp *countingPending
	e := newEnv(t, withUsers(t), func(c *mcpauth.Config) {
		cp = &countingPending{GrantStore: c.Grants}
		c.Grants = cp
		c.MaxPendingAuthorizations = limit
	})
	for range 5 * limit {
		resp := e.get("/authorize?" + authzQuery("pub", pubRedirect, newVerifier()).Encode())
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("authorize: status %d", resp.StatusCode)
		}
	}
	n, oldest, newest := cp.live(t.Context())
	if n != limit || oldest || !newest {
		t.Fatalf("after %d starts: %d pending (oldest kept %v, newest kept %v), want %d with the newest", 5*limit, n, oldest, newest, limit)
	}
	b := e.browser()
	form, _ := loginFlow(t, e, b, authzQuery("pub", pubRedirect, newVerifier()))
	form.Set("decision", "approve")
	if code := location(t, b.post(e.issuer+"/consent", form)).Query().Get("code"); code == "" {
		t.Fatal("a sign-in after the flood got no code")
	}
}

// TestRegisteredClientIdleExpiry: a dynamically registered client unused for
// Config.ClientIdleExpiry is gone; one in use is kept (issue 9.3).
func TestRegisteredClientIdleExpiry(t *testing.T) {
	const day = 24 * time.Hour
	e := newEnv(t, func(c *mcpauth.Config) { c.ClientIdleExpiry = 90 * day })
	register := func() string {
		resp := e.postJSON("/register", map[string]any{"redirect_uris": []string{pubRedirect}, "token_endpoint_auth_method": "none"})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("register: status %d, body %s", resp.StatusCode, peek(resp))
		}
		return jsonBody(t, resp)["client_id"].(string)
	}
	authorize := func(id string) int {
		return e.get("/authorize?" + authzQuery(id, pubRedirect, newVerifier()).Encode()).StatusCode
	}
	used, idle := register(), register()
	for range 4 { // used every 60 days: 240 days in all
		e.clock.Advance(60 * day)
		if st := authorize(used); st != http.StatusFound {
			t.Fatalf("a client in use: authorize status %d, want 302", st)
		}
	}
	if st := authorize(idle); st != http.StatusBadRequest {
		t.Fatalf("a client idle for 240 days: authorize status %d, want 400 (unknown client)", st)
	}
	if _, err := e.clients.GetClient(t.Context(), idle); err != store.ErrNotFound {
		t.Fatalf("idle client in the store: %v, want ErrNotFound", err)
	}
	if _, err := e.clients.GetClient(t.Context(), used); err != nil {
		t.Fatalf("client in use in the store: %v", err)
	}
}

// TestAccessTokenCappedAtGrantEnd: an access token never outlives its
// grant, whose revocation tombstone the sweep keeps only until the grant's
// end; so a token minted shortly before the end dies with a revocation
// even after the sweep (issue 10.10).
func TestAccessTokenCappedAtGrantEnd(t *testing.T) {
	e := newEnv(t, func(c *mcpauth.Config) {
		c.RefreshTokenTTL = 2 * time.Hour // the grant's lifetime
		c.AccessTokenTTL = time.Hour
	})
	start := e.clock.Now()
	m := e.tokens("pub", nil)
	e.clock.Advance(110 * time.Minute)
	resp := e.refresh("pub", m["refresh_token"].(string), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: status %d, body %s", resp.StatusCode, peek(resp))
	}
	m2 := jsonBody(t, resp)
	at := m2["access_token"].(string)
	_, claims := jwtParts(t, at)
	grantEnd := start.Add(2 * time.Hour)
	expN, _ := claims["exp"].(json.Number).Int64()
	if exp := time.Unix(expN, 0); exp.After(grantEnd.Add(-30 * time.Second)) {
		t.Fatalf("access token exp %v is past the grant's end %v (less leeway)", exp, grantEnd)
	}
	if ei := m2["expires_in"].(float64); ei > 10*60 {
		t.Errorf("expires_in %v, want at most the 10 minutes left", ei)
	}
	// Revoke the grant, then sweep at the grant's end.
	if resp := e.postForm("/revoke", url.Values{"token": {m2["refresh_token"].(string)}, "client_id": {"pub"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: status %d", resp.StatusCode)
	}
	e.clock.Advance(10 * time.Minute)
	if _, err := e.grants.DeleteExpired(t.Context(), e.clock.Now(), 1000); err != nil {
		t.Fatal(err)
	}
	for _, later := range []time.Duration{0, 20 * time.Second, 40 * time.Second, 30 * time.Minute} {
		e.clock.Advance(later)
		if _, err := e.srv.VerifyAccessToken(t.Context(), at); err == nil {
			t.Fatalf("a revoked grant's access token verifies %v after the grant's end and the sweep", e.clock.Now().Sub(grantEnd))
		}
	}
	// Too close to the end for another token: the grant is over.
	e2 := newEnv(t, func(c *mcpauth.Config) { c.RefreshTokenTTL = 2 * time.Hour })
	m = e2.tokens("pub", nil)
	e2.clock.Advance(2*time.Hour - 10*time.Second)
	if code, _ := oauthError(t, e2.refresh("pub", m["refresh_token"].(string), nil)); code != "invalid_grant" {
		t.Fatalf("refresh 10 s before the grant's end: %q, want invalid_grant", code)
	}
}

// rotationCounter counts the store's refresh rotations (writes).
type rotationCounter struct {
	store.GrantStore
	rotations atomic.Int32
}

func (c *rotationCounter) RotateRefresh(ctx context.Context, o, n string, next *store.RefreshRecord, w time.Duration) (*store.RefreshRecord, error) {
	c.rotations.Add(1)
	return c.GrantStore.RotateRefresh(ctx, o, n, next, w)
}

// TestRefreshReuseWithoutWrites: an unknown or already rotated refresh
// token is judged by a lookup (GrantStore.LookupRefresh), not by a
// throw-away rotation; the reuse still ends the whole grant. (Within
// Config.RefreshRetryWindow the same client's retry is decided by the
// rotation itself, atomically: the window is off here.)
func TestRefreshReuseWithoutWrites(t *testing.T) {
	counter := &rotationCounter{}
	e := newEnv(t, func(c *mcpauth.Config) {
		counter.GrantStore = c.Grants
		c.Grants = counter
		c.RefreshRetryWindow = -1
	})
	m := e.tokens("pub", nil)
	rt1 := m["refresh_token"].(string)
	if resp := e.refresh("pub", rt1, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %s", resp.StatusCode, peek(resp))
	}
	if n := counter.rotations.Load(); n != 1 {
		t.Fatalf("one refresh made %d rotations", n)
	}
	for _, rt := range []string{"rt_unknown", rt1} {
		if code, status := oauthError(t, e.refresh("pub", rt, nil)); code != "invalid_grant" || status != http.StatusBadRequest {
			t.Errorf("refresh(%.10s): (%q, %d), want invalid_grant 400", rt, code, status)
		}
	}
	if n := counter.rotations.Load(); n != 1 {
		t.Errorf("an unknown and a reused token made %d more rotations, want none", n-1)
	}
	if e.active(m["access_token"].(string)) {
		t.Errorf("the grant survived the reuse of its refresh token")
	}
}
