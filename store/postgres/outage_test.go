package postgres

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

// TestServerDuringOutage kills a Server's database connections while
// clients run the whole authorization-code flow against it: every answer is
// a success or a clean OAuth error (503 temporarily_unavailable with
// Retry-After for the outage), never a 500 or a panic; no code is redeemed
// twice; and the server recovers without a restart.
func TestServerDuringOutage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills database connections for a few seconds")
	}
	ctx := t.Context()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	st, app := killableStore(t, dsn, schema)
	srv, err := mcpauth.NewServer(mcpauth.Config{
		Issuer: replicaIssuer, Scopes: []string{"read"}, Authenticator: mcpauthtest.AutoApprove("alice"),
		StaticClients: []store.Client{{
			ID:             "app",
			ClientMetadata: store.ClientMetadata{RedirectURIs: []string{replicaRedirect}, TokenEndpointAuthMethod: "none", GrantTypes: []string{"authorization_code", "refresh_token"}},
		}},
		Clients: st, Grants: st, Keys: st, RateLimits: &limits.RateLimits{Disabled: true}, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	// flow runs authorize → token and reports what each step answered.
	var mu sync.Mutex
	statuses := map[string]int{}
	redeemed := map[string]int{}
	check := func(step string, rec *httptest.ResponseRecorder) {
		mu.Lock()
		statuses[step+" "+http.StatusText(rec.Code)]++
		mu.Unlock()
		switch rec.Code {
		case http.StatusOK, http.StatusFound, http.StatusBadRequest:
		case http.StatusServiceUnavailable:
			var body map[string]string
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if body["error"] != "temporarily_unavailable" || rec.Header().Get("Retry-After") == "" {
				t.Errorf("%s: 503 without an OAuth temporarily_unavailable and Retry-After: %v %s", step, rec.Header(), rec.Body)
			}
		default:
			t.Errorf("%s: status %d: %s", step, rec.Code, rec.Body)
		}
	}
	flow := func() bool {
		verifier := strings.Repeat("v", 43)
		q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {replicaRedirect},
			"code_challenge": {mcpauth.S256Challenge(verifier)}, "code_challenge_method": {"S256"}, "state": {"s"}}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, replicaIssuer+"/authorize?"+q.Encode(), nil))
		check("authorize", rec)
		loc, _ := url.Parse(rec.Header().Get("Location"))
		if rec.Code != http.StatusFound || loc == nil {
			return false
		}
		if e := loc.Query().Get("error"); e != "" {
			if e != "temporarily_unavailable" {
				t.Errorf("authorize redirected with error=%s", e)
			}
			return false
		}
		code := loc.Query().Get("code")
		for range 2 { // a client retries once after a 503
			req := httptest.NewRequest(http.MethodPost, replicaIssuer+"/token", strings.NewReader(codeForm(code, verifier).Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			check("token", rec)
			if rec.Code == http.StatusOK {
				mu.Lock()
				redeemed[code]++
				mu.Unlock()
				return true
			}
			if rec.Code != http.StatusServiceUnavailable {
				return false
			}
		}
		return false
	}

	killer, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(context.Background())
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				flow()
			}
		})
	}
	kills := 0
	for time.Now().Before(deadline) {
		var n int
		if err := killer.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n); err != nil {
			t.Fatalf("pg_terminate_backend: %v", err)
		}
		kills += n
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	for code, n := range redeemed {
		if n > 1 {
			t.Errorf("code %.8s… redeemed %d times", code, n)
		}
	}
	t.Logf("killed %d connections; answers: %v", kills, statuses)

	// Recovery without a restart.
	ok := false
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && !ok; {
		ok = flow()
		if !ok {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatal("the server did not recover after the outage")
	}
}
