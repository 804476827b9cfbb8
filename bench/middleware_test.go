package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

var algs = []string{"ES256", "RS256"}

// BenchmarkMiddleware times mcpauth.RequireMCPAuth against keyfunc +
// golang-jwt, jwx and the go-sdk's RequireBearerToken, interleaved in one
// loop on the same requests. first-sight: a ring of distinct tokens
// (mcpauth's cache misses); repeated: one token again and again. Metrics:
// <name>-ns/req for each contender; for first sight x-vs-<peer> = mcpauth
// time / peer time (goal ≤ 1.0 vs keyfunc), for a repeated token
// speedup-vs-<peer> = peer time / mcpauth time (goal ≥ 20).
func BenchmarkMiddleware(b *testing.B) {
	for _, alg := range algs {
		b.Run(alg, func(b *testing.B) {
			a, err := NewAuthority(alg)
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			for _, first := range []bool{true, false} {
				name := "repeated"
				if first {
					name = "first-sight"
				}
				b.Run(name, func(b *testing.B) {
					c, err := NewComparison(context.Background(), a, first)
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					for b.Loop() {
						if err := c.Step(); err != nil {
							b.Fatal(err)
						}
					}
					mine := float64(c.PerRequest(0))
					for i, n := range c.Names {
						b.ReportMetric(float64(c.PerRequest(i)), n+"-ns/req")
					}
					for i, n := range c.Names[1:] {
						peer := float64(c.PerRequest(i + 1))
						if first {
							b.ReportMetric(mine/peer, "x-vs-"+n)
						} else {
							b.ReportMetric(peer/mine, "speedup-vs-"+n)
						}
					}
				})
			}
		})
	}
}

// TestEquivalentChecks proves every contender refuses what mcpauth
// refuses (wrong iss, wrong aud, expired, no exp, bad signature: 401;
// missing scope: 403), so the comparison is of equal work.
func TestEquivalentChecks(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			a, err := NewAuthority(alg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			other, err := NewAuthority(alg)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			sign := func(a *Authority, edit func(*Claims)) string {
				tok, err := a.Token(edit)
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			past := time.Now().Add(-2 * time.Hour).Unix()
			cases := []struct {
				name  string
				token string
				want  int
			}{
				{"valid", sign(a, nil), http.StatusNoContent},
				{"wrong iss", sign(a, func(c *Claims) { c.Issuer = "https://evil.example" }), http.StatusUnauthorized},
				{"wrong aud", sign(a, func(c *Claims) { c.Audience = "https://other.example/mcp" }), http.StatusUnauthorized},
				{"expired", sign(a, func(c *Claims) { c.Expiry = past }), http.StatusUnauthorized},
				{"no exp", sign(a, func(c *Claims) { c.Expiry = 0 }), http.StatusUnauthorized},
				{"other key", sign(other, nil), http.StatusUnauthorized},
				{"scope missing", sign(a, func(c *Claims) { c.Scope = "tools:write" }), http.StatusForbidden},
			}
			m, err := MCPAuth(a, 0)
			if err != nil {
				t.Fatal(err)
			}
			peers, err := Peers(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
			for _, mw := range append([]Middleware{m}, peers...) {
				defer mw.Close()
				h := mw.Wrap(ok)
				for _, tc := range cases {
					r := httptest.NewRequest(http.MethodPost, Audience, nil)
					r.Header.Set("Authorization", "Bearer "+tc.token)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != tc.want {
						t.Errorf("%s, %s: got %d, want %d", mw.Name, tc.name, w.Code, tc.want)
					}
				}
			}
		})
	}
}
