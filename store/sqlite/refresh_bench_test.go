package sqlite

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

// BenchmarkServerRefresh measures /token refresh_token on a Server backed
// by this store (WAL, synchronous=FULL), from 64 goroutines each with its
// own refresh-token chain, so concurrent rotations share group commits.
func BenchmarkServerRefresh(b *testing.B) {
	const issuer, redirect, verifier = "http://127.0.0.1:8080", "http://127.0.0.1/cb", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	st, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"), WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	srv, err := mcpauth.NewServer(mcpauth.Config{
		Issuer: issuer, Scopes: []string{"read"}, Authenticator: mcpauthtest.AutoApprove("alice"),
		Clients: st, Grants: st, Keys: st, RateLimits: &limits.RateLimits{Disabled: true},
		Logger:        slog.New(slog.DiscardHandler),
		StaticClients: []store.Client{{ID: "bench", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{redirect}}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	post := func(form url.Values) map[string]any {
		req := httptest.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var m map[string]any
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusOK || json.Unmarshal(body, &m) != nil {
			b.Errorf("token: %d %s", rec.Code, body)
			return nil
		}
		return m
	}
	start := func() string {
		q := url.Values{"response_type": {"code"}, "client_id": {"bench"}, "redirect_uri": {redirect},
			"code_challenge": {mcpauth.S256Challenge(verifier)}, "code_challenge_method": {"S256"},
			"scope": {"read offline_access"}, "state": {"s"}}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, issuer+"/authorize?"+q.Encode(), nil))
		loc, _ := url.Parse(rec.Header().Get("Location"))
		m := post(url.Values{"grant_type": {"authorization_code"}, "client_id": {"bench"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {redirect}, "code_verifier": {verifier}})
		if m == nil {
			b.FailNow()
		}
		return m["refresh_token"].(string)
	}
	b.SetParallelism(32) // 64 goroutines on 2 CPUs
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rt := start()
		for pb.Next() {
			m := post(url.Values{"grant_type": {"refresh_token"}, "client_id": {"bench"}, "refresh_token": {rt}})
			if m == nil {
				return
			}
			rt = m["refresh_token"].(string)
		}
	})
	b.StopTimer()
	st.gc.mu.Lock()
	b.ReportMetric(float64(st.gc.writes)/float64(max(st.gc.batches, 1)), "writes/commit")
	st.gc.mu.Unlock()
}
