package mcpauth_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
)

// limited sends one request from ip and reports the response.
func (e *env) from(ip, method, path string, v url.Values, hdr ...string) *http.Response {
	e.t.Helper()
	var r *http.Request
	if method == http.MethodGet {
		r = e.req(method, path+"?"+v.Encode(), nil)
	} else {
		r = e.req(method, path, strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.RemoteAddr = ip + ":40000"
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return e.serve(r)
}

func check429(t *testing.T, resp *http.Response, wantRetry int) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("got %d, want 429", resp.StatusCode)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra != wantRetry {
		t.Errorf("Retry-After %q, want %d", resp.Header.Get("Retry-After"), wantRetry)
	}
}

func TestRateLimits(t *testing.T) {
	tight := func(c *mcpauth.Config) {
		c.RateLimits = &limits.RateLimits{Limits: map[string]limits.Rate{
			limits.EndpointToken:   {Requests: 2, Per: time.Minute},
			limits.EndpointDefault: {Requests: 3, Per: time.Minute},
		}}
	}
	tok := url.Values{"grant_type": {"password"}}
	t.Run("per endpoint and IP", func(t *testing.T) {
		e := newEnv(t, tight)
		for i := range 2 {
			if resp := e.from("203.0.113.1", http.MethodPost, "/token", tok); resp.StatusCode == 429 {
				t.Fatalf("request %d limited", i+1)
			}
		}
		resp := e.from("203.0.113.1", http.MethodPost, "/token", tok)
		check429(t, resp, 30) // 2 per minute: one token every 30 s
		if code, _ := oauthError(t, resp); code != "temporarily_unavailable" {
			t.Errorf("got %q, want temporarily_unavailable", code)
		}
		checkNoStore(t, resp)
		if resp := e.from("203.0.113.2", http.MethodPost, "/token", tok); resp.StatusCode == 429 {
			t.Errorf("another IP is limited")
		}
		if resp := e.from("203.0.113.1", http.MethodPost, "/introspect", url.Values{}); resp.StatusCode == 429 {
			t.Errorf("another endpoint is limited")
		}
		e.clock.Advance(30 * time.Second)
		if resp := e.from("203.0.113.1", http.MethodPost, "/token", tok); resp.StatusCode == 429 {
			t.Errorf("still limited after the bucket refilled")
		}
		if resp := e.from("203.0.113.1", http.MethodPost, "/token", tok); resp.StatusCode != 429 {
			t.Errorf("got %d, want 429 after spending the refilled token", resp.StatusCode)
		}
	})
	t.Run("default bucket for unlisted endpoints", func(t *testing.T) {
		e := newEnv(t, tight)
		for range 3 {
			e.from("203.0.113.1", http.MethodGet, "/.well-known/oauth-authorization-server", nil)
		}
		check429(t, e.from("203.0.113.1", http.MethodGet, "/.well-known/oauth-authorization-server", nil), 20)
		// Each endpoint has its own bucket, even when sharing the default rate.
		if resp := e.from("203.0.113.1", http.MethodGet, "/.well-known/jwks.json", nil); resp.StatusCode == 429 {
			t.Errorf("JWKS shares the metadata bucket")
		}
	})
	t.Run("browser gets a page", func(t *testing.T) {
		e := newEnv(t, func(c *mcpauth.Config) {
			c.RateLimits = &limits.RateLimits{Limits: map[string]limits.Rate{limits.EndpointAuthorize: {Requests: 1, Per: time.Minute}}}
		})
		q := authzQuery("pub", pubRedirect, newVerifier())
		e.from("203.0.113.1", http.MethodGet, "/authorize", q)
		resp := e.from("203.0.113.1", http.MethodGet, "/authorize", q, "Accept", "text/html")
		check429(t, resp, 60)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Location") != "" {
			t.Errorf("got (%q, Location %q), want an HTML page and no redirect", resp.Header.Get("Content-Type"), resp.Header.Get("Location"))
		}
	})
	t.Run("defaults: authorize 10 per minute", func(t *testing.T) {
		e := newEnv(t, func(c *mcpauth.Config) { c.RateLimits = nil })
		q := authzQuery("pub", pubRedirect, newVerifier())
		for i := range 10 {
			if resp := e.from("203.0.113.9", http.MethodGet, "/authorize", q); resp.StatusCode == 429 {
				t.Fatalf("request %d limited", i+1)
			}
		}
		check429(t, e.from("203.0.113.9", http.MethodGet, "/authorize", q), 6)
	})
	t.Run("sign-in flows fit the default limits", func(t *testing.T) {
		// /login and /consent share authorize's rate but not its bucket, so a
		// user can sign in and authorize several clients in a minute.
		e := newEnv(t, withUsers(t), func(c *mcpauth.Config) { c.RateLimits = nil })
		b := e.browser()
		for i := range 3 {
			form, _ := loginFlow(t, e, b, authzQuery("pub", pubRedirect, newVerifier()))
			form.Set("decision", "approve")
			if resp := b.post(e.issuer+"/consent", form); resp.StatusCode != http.StatusFound {
				t.Fatalf("flow %d: consent got %d, want 302", i+1, resp.StatusCode)
			}
		}
	})
	t.Run("Disabled", func(t *testing.T) {
		e := newEnv(t, func(c *mcpauth.Config) {
			c.RateLimits = &limits.RateLimits{Disabled: true, Limits: map[string]limits.Rate{limits.EndpointToken: {Requests: 1, Per: time.Hour}}}
		})
		for i := range 50 {
			if resp := e.from("203.0.113.1", http.MethodPost, "/token", tok); resp.StatusCode == 429 {
				t.Fatalf("request %d limited although Disabled", i+1)
			}
		}
	})
	t.Run("zero requests means unlimited", func(t *testing.T) {
		e := newEnv(t, func(c *mcpauth.Config) {
			c.RateLimits = &limits.RateLimits{Limits: map[string]limits.Rate{limits.EndpointToken: {Requests: 0, Per: time.Minute}}}
		})
		for i := range 30 {
			if resp := e.from("203.0.113.1", http.MethodPost, "/token", tok); resp.StatusCode == 429 {
				t.Fatalf("request %d limited", i+1)
			}
		}
	})
	t.Run("X-Forwarded-For only when trusted", func(t *testing.T) {
		for _, trusted := range []bool{false, true} {
			e := newEnv(t, tight, func(c *mcpauth.Config) { c.TrustForwardedFor = trusted })
			limited := 0
			for i := range 4 {
				xff := "198.51.100.7, 198.51.100." + strconv.Itoa(i)
				if resp := e.from("10.0.0.1", http.MethodPost, "/token", tok, "X-Forwarded-For", xff); resp.StatusCode == 429 {
					limited++
				}
			}
			if want := map[bool]int{false: 2, true: 0}[trusted]; limited != want {
				t.Errorf("TrustForwardedFor=%v: %d of 4 limited, want %d", trusted, limited, want)
			}
		}
	})
	t.Run("IPv6 peers by /64", func(t *testing.T) {
		e := newEnv(t, tight)
		for range 2 {
			e.from("[2001:db8::1]", http.MethodPost, "/token", tok)
		}
		check429(t, e.from("[2001:db8::1]", http.MethodPost, "/token", tok), 30)
		// One subscriber holds the whole /64: a new address there is no new bucket.
		check429(t, e.from("[2001:db8::2]", http.MethodPost, "/token", tok), 30)
		if resp := e.from("[2001:db8:0:1::1]", http.MethodPost, "/token", tok); resp.StatusCode == 429 {
			t.Errorf("a peer in another /64 is limited")
		}
	})
}
