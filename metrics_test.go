package mcpauth_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/store"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// failingIsRevoked is a grant store whose IsRevoked fails while fail is set.
type failingIsRevoked struct {
	store.GrantStore
	fail bool
}

func (f *failingIsRevoked) IsRevoked(ctx context.Context, jti, grantID string) (bool, error) {
	if f.fail {
		return false, errors.New("disk on fire")
	}
	return f.GrantStore.IsRevoked(ctx, jti, grantID)
}

// metricValue is the value of the counter, or the sample count of the
// histogram, named name with exactly the given labels; -1 when absent.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		want := map[string]string{}
		for i := 0; i+1 < len(labels); i += 2 {
			want[labels[i]] = labels[i+1]
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, l := range m.GetLabel() {
				if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
					continue next
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

// TestMetricsAfterFlow runs a login, a refresh, a refresh reuse, a failed
// sign-in, a rate-limited request and a failing store call, then scrapes
// the metrics: each is counted under its documented name, and no label or
// value names the subject, the client or a token.
func TestMetricsAfterFlow(t *testing.T) {
	reg := prometheus.NewRegistry()
	var gs *failingIsRevoked
	e := newEnv(t, func(c *mcpauth.Config) {
		c.Metrics = reg
		gs = &failingIsRevoked{GrantStore: c.Grants}
		c.Grants = gs
	})
	tok := e.tokens("pub", nil)
	rt := tok["refresh_token"].(string)
	if resp := e.refresh("pub", rt, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %s", resp.StatusCode, peek(resp))
	}
	e.clock.Advance(time.Minute) // past the retry window: a reuse
	if resp := e.refresh("pub", rt, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("reused refresh: %d %s", resp.StatusCode, peek(resp))
	}
	gs.fail = true
	r := e.req(http.MethodPost, "/introspect", strings.NewReader(url.Values{"token": {tok["access_token"].(string)}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", basic("conf", confSecret))
	e.srv.ServeHTTP(httptest.NewRecorder(), r) // a 500: the store failed
	gs.fail = false

	// The same registry takes a second server: its collectors are shared.
	users := newEnv(t, withUsers(t), func(c *mcpauth.Config) {
		c.Metrics = reg
		c.RateLimits = &limits.RateLimits{Limits: map[string]limits.Rate{limits.EndpointToken: {Requests: 1, Per: time.Minute}}}
	})
	lt := newLoginTarget(t, users)
	if resp := lt.post(t.Context(), "192.0.2.1:1234", "alice", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	for range 2 {
		users.postForm("/token", url.Values{"grant_type": {"authorization_code"}})
	}

	for _, tc := range []struct {
		name   string
		labels []string
		want   float64 // -2: at least one
	}{
		{"mcpauth_http_requests_total", []string{"endpoint", "/token", "code", "200"}, 2},
		{"mcpauth_http_requests_total", []string{"endpoint", "/token", "code", "400"}, 1},
		{"mcpauth_http_requests_total", []string{"endpoint", "/token", "code", "429"}, 1},
		{"mcpauth_http_requests_total", []string{"endpoint", "/authorize", "code", "302"}, 2},
		{"mcpauth_http_requests_total", []string{"endpoint", "/login", "code", "401"}, 1},
		{"mcpauth_http_request_duration_seconds", []string{"endpoint", "/token"}, 5},
		{"mcpauth_tokens_issued_total", []string{"grant_type", "authorization_code"}, 1},
		{"mcpauth_tokens_issued_total", []string{"grant_type", "refresh_token"}, 1},
		{"mcpauth_refresh_reuse_detected_total", nil, 1},
		{"mcpauth_login_failures_total", []string{"reason", "invalid_credentials"}, 1},
		{"mcpauth_rate_limited_total", []string{"endpoint", "/token"}, 1},
		{"mcpauth_store_call_duration_seconds", []string{"op", "RedeemCode"}, 1},
		{"mcpauth_store_call_duration_seconds", []string{"op", "RotateRefresh"}, 2},
		{"mcpauth_store_errors_total", []string{"op", "IsRevoked"}, 1},
		{"mcpauth_http_requests_total", []string{"endpoint", "/introspect", "code", "500"}, 1},
	} {
		if got := metricValue(t, reg, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}

	// The scrape: the documented names, and nothing identifying.
	rec := httptest.NewRecorder()
	e.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	text := string(body)
	if rec.Code != http.StatusOK || !strings.Contains(text, "# TYPE mcpauth_tokens_issued_total counter") {
		t.Fatalf("scrape: %d %.300s", rec.Code, text)
	}
	for _, secret := range []string{autoSubject, "user-alice", `"pub"`, rt, tok["access_token"].(string)} {
		if strings.Contains(text, secret) {
			t.Errorf("the scrape contains %q", secret)
		}
	}
}

// TestMetricsHandlerOwnRegistry: without Config.Metrics the server keeps a
// registry of its own and MetricsHandler serves it.
func TestMetricsHandlerOwnRegistry(t *testing.T) {
	e := newEnv(t)
	e.get("/.well-known/jwks.json")
	rec := httptest.NewRecorder()
	e.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := `mcpauth_http_requests_total{code="200",endpoint="/.well-known/jwks.json"} 1`; !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("scrape lacks %s:\n%.2000s", want, rec.Body.String())
	}
}

// TestVerifierMetrics: a remote Verifier counts its JWK Set fetches and its
// cache hits and misses.
func TestVerifierMetrics(t *testing.T) {
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer ts.Close()
	e := newEnv(t, func(c *mcpauth.Config) { c.Issuer = ts.URL })
	h = e.srv
	tok := e.tokens("pub", nil)["access_token"].(string)
	reg := prometheus.NewRegistry()
	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{Issuer: ts.URL, Audience: resourceA, Metrics: reg, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for range 2 {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, result string
		want         float64
	}{
		{"mcpauth_jwks_fetches_total", "ok", 1},
		{"mcpauth_verifier_cache_total", "miss", 1},
		{"mcpauth_verifier_cache_total", "hit", 1},
	} {
		if got := metricValue(t, reg, tc.name, "result", tc.result); got != tc.want {
			t.Errorf("%s{result=%q} = %v, want %v", tc.name, tc.result, got, tc.want)
		}
	}
}
