package postgres

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
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

// Two authorization servers, each with its own Store and pool on one
// schema, stand for replicas behind a load balancer.

const (
	replicaIssuer   = "http://127.0.0.1:8765"
	replicaRedirect = "http://127.0.0.1/cb"
	replicaResource = "https://mcp.example.com/mcp"
	replicaRacers   = 64
	replicaRounds   = 200
)

// replicaClock is the shared Config.Now of both replicas and their stores.
type replicaClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *replicaClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *replicaClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type replicas struct {
	t     *testing.T
	srv   [2]*mcpauth.Server
	clock *replicaClock
}

func newReplicas(t *testing.T) *replicas { return newReplicasWindow(t, 0) }

// newReplicasWindow sets Config.RefreshRetryWindow (0: the default).
func newReplicasWindow(t *testing.T, retryWindow time.Duration) *replicas {
	t.Helper()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	r := &replicas{t: t, clock: &replicaClock{t: time.Now().Truncate(time.Millisecond)}}
	for i := range r.srv {
		st := openSchema(t, dsn, schema, WithClock(r.clock.Now))
		srv, err := mcpauth.NewServer(mcpauth.Config{
			Issuer:        replicaIssuer,
			Scopes:        []string{"read"},
			Resources:     []string{replicaResource},
			Authenticator: mcpauthtest.AutoApprove("alice"),
			StaticClients: []store.Client{{
				ID:             "app",
				ClientMetadata: store.ClientMetadata{Name: "App", RedirectURIs: []string{replicaRedirect}, TokenEndpointAuthMethod: "none", GrantTypes: []string{"authorization_code", "refresh_token"}},
			}},
			Clients:    st,
			Grants:     st,
			Keys:       st,
			RateLimits: &limits.RateLimits{Disabled: true},
			Logger:     quiet,
			Now:        r.clock.Now,

			RefreshRetryWindow: retryWindow,
		})
		if err != nil {
			t.Fatalf("NewServer %d: %v", i, err)
		}
		t.Cleanup(func() { srv.Close() })
		r.srv[i] = srv
	}
	return r
}

// do runs one request through replica i and returns status and JSON body.
func (r *replicas) do(i int, req *http.Request) (int, map[string]any, http.Header) {
	rec := httptest.NewRecorder()
	r.srv[i].ServeHTTP(rec, req)
	var body map[string]any
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		json.Unmarshal(rec.Body.Bytes(), &body)
	}
	return rec.Code, body, rec.Header()
}

func (r *replicas) token(i int, form url.Values) (int, map[string]any) {
	req := httptest.NewRequest(http.MethodPost, replicaIssuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body, _ := r.do(i, req)
	return status, body
}

// code runs an auto-approved authorization request on replica i.
func (r *replicas) code(i int) (code, verifier string) {
	r.t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	q := url.Values{
		"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {replicaRedirect},
		"code_challenge": {mcpauth.S256Challenge(verifier)}, "code_challenge_method": {"S256"},
		"state": {"s"}, "resource": {replicaResource},
	}
	status, _, hdr := r.do(i, httptest.NewRequest(http.MethodGet, replicaIssuer+"/authorize?"+q.Encode(), nil))
	loc, err := url.Parse(hdr.Get("Location"))
	if status != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		r.t.Fatalf("authorize on replica %d: status %d, Location %q", i, status, hdr.Get("Location"))
	}
	return loc.Query().Get("code"), verifier
}

func codeForm(code, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"client_id": {"app"}, "redirect_uri": {replicaRedirect}}
}

func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"app"}}
}

// tokens redeems a fresh code on replica i.
func (r *replicas) tokens(i int) (access, refresh string) {
	r.t.Helper()
	status, body := r.token(i, codeForm(r.code(i)))
	access, _ = body["access_token"].(string)
	refresh, _ = body["refresh_token"].(string)
	if status != http.StatusOK || access == "" || refresh == "" {
		r.t.Fatalf("code exchange on replica %d: status %d, body %v", i, status, body)
	}
	return access, refresh
}

// race sends form to /token from racers goroutines, alternating replicas,
// and checks that exactly one gets 200 and the rest invalid_grant. It
// returns the winner's body.
func (r *replicas) race(what string, form url.Values) map[string]any {
	return r.raceUpTo(what, form, 1)[0]
}

// raceUpTo is race allowing 1 to maxWins winners; it returns their bodies.
func (r *replicas) raceUpTo(what string, form url.Values, maxWins int) []map[string]any {
	r.t.Helper()
	statuses := make([]int, replicaRacers)
	bodies := make([]map[string]any, replicaRacers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range replicaRacers {
		wg.Go(func() {
			<-start
			statuses[g], bodies[g] = r.token(g%2, form)
		})
	}
	close(start)
	wg.Wait()
	var winners []map[string]any
	for g, st := range statuses {
		switch {
		case st == http.StatusOK:
			winners = append(winners, bodies[g])
		case st != http.StatusBadRequest || bodies[g]["error"] != "invalid_grant":
			r.t.Errorf("%s racer %d (replica %d): status %d, body %v", what, g, g%2, st, bodies[g])
		}
	}
	if len(winners) < 1 || len(winners) > maxWins {
		r.t.Fatalf("%s: %d of %d racers got 200, want 1 to %d", what, len(winners), replicaRacers, maxWins)
	}
	return winners
}

// TestReplicasCodeRace: 64 requests split across two replicas redeem one
// authorization code; exactly one succeeds, every round.
func TestReplicasCodeRace(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 200 rounds of 64 racing token requests")
	}
	t.Parallel()
	r := newReplicas(t)
	for round := range replicaRounds {
		code, verifier := r.code(round % 2)
		r.race("code exchange", codeForm(code, verifier))
	}
}

// TestReplicasRefreshRace: 64 requests split across two replicas rotate one
// refresh token; exactly one succeeds, and the reuse by the others revokes
// the family on both replicas. With the retry window (the default) one more
// may succeed as the client's retry, and the others still revoke the family.
func TestReplicasRefreshRace(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 200 rounds of 64 racing token requests")
	}
	t.Parallel()
	for _, tc := range []struct {
		name    string
		window  time.Duration
		maxWins int
	}{{"NoRetryWindow", -1, 1}, {"RetryWindow", 0, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newReplicasWindow(t, tc.window)
			for round := range replicaRounds {
				_, rt := r.tokens(round % 2)
				for _, won := range r.raceUpTo("refresh", refreshForm(rt), tc.maxWins) {
					r.checkRevoked(round, won)
				}
			}
		})
	}
}

// checkRevoked fails unless a race winner's tokens died with their family.
func (r *replicas) checkRevoked(round int, won map[string]any) {
	t := r.t
	t.Helper()
	access, _ := won["access_token"].(string)
	next, _ := won["refresh_token"].(string)
	for i := range r.srv {
		if status, body := r.token(i, refreshForm(next)); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("round %d: the winner's new refresh token on replica %d after reuse: status %d, body %v (want the family revoked)",
				round, i, status, body)
		}
		if _, err := r.srv[i].VerifyAccessToken(t.Context(), access); err == nil {
			t.Fatalf("round %d: replica %d accepts an access token of a revoked family", round, i)
		}
	}
}

// TestReplicasKeyRotation: a key rotated on one replica is published and,
// once it signs, accepted by the other.
func TestReplicasKeyRotation(t *testing.T) {
	t.Parallel()
	r := newReplicas(t)
	before, _ := r.tokens(0)
	oldKid := kid(t, before)

	if err := r.srv[0].RotateSigningKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Past the publication delay (KeyRefreshInterval + JWKS max-age) and the
	// other replica's key cache.
	r.clock.Advance(10 * time.Minute)

	after, _ := r.tokens(0)
	newKid := kid(t, after)
	if newKid == oldKid {
		t.Fatalf("replica 0 still signs with %s after rotation", oldKid)
	}
	rec := httptest.NewRecorder()
	r.srv[1].ServeHTTP(rec, httptest.NewRequest(http.MethodGet, replicaIssuer+"/.well-known/jwks.json", nil))
	if jwks := rec.Body.String(); rec.Code != http.StatusOK || !strings.Contains(jwks, newKid) || !strings.Contains(jwks, oldKid) {
		t.Errorf("replica 1 JWKS (status %d) = %s, want kids %s and %s", rec.Code, jwks, newKid, oldKid)
	}
	for i := range r.srv {
		for _, tok := range []string{before, after} {
			if _, err := r.srv[i].VerifyAccessToken(t.Context(), tok); err != nil {
				t.Errorf("replica %d rejects a token signed by %s: %v", i, kid(t, tok), err)
			}
		}
	}
	// The other replica signs with the new key too.
	if got := kid(t, first(r.tokens(1))); got != newKid {
		t.Errorf("replica 1 signs with %s, want the rotated key %s", got, newKid)
	}
}

func first(a, _ string) string { return a }

// kid returns the kid in a JWT's header.
func kid(t *testing.T, jwt string) string {
	t.Helper()
	h, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err != nil || json.Unmarshal(b, &hdr) != nil || hdr.Kid == "" {
		t.Fatalf("no kid in JWT header %q", h)
	}
	return hdr.Kid
}
