package mcpauth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
)

// forge re-encodes token with an edited header and claims and signs it with
// HMAC-SHA256 under key (or no signature for alg none).
func forge(t *testing.T, token string, edit func(h, c map[string]any), key []byte) string {
	t.Helper()
	h, c := jwtParts(t, token)
	edit(h, c)
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(c)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	if key == nil {
		return input + "."
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TestIntrospectAuth: the seed allowed anonymous introspection; the port
// requires a confidential client unless AllowAnonymousIntrospection is set
// (a public client's client_id is no credential, and the metadata advertises
// only client_secret_basic and client_secret_post).
func TestIntrospectAuth(t *testing.T) {
	e := newEnv(t, func(c *mcpauth.Config) { c.Introspectors = append(c.Introspectors, "confpost") })
	anon := newEnv(t, func(c *mcpauth.Config) { c.AllowAnonymousIntrospection = true })
	at := e.tokens("pub1", nil)["access_token"].(string)
	atAnon := anon.tokens("pub1", nil)["access_token"].(string)
	tests := []struct {
		name   string
		e      *env
		form   url.Values
		hdr    []string
		status int
		want   string // error code, or "" for 200
	}{
		{"no client auth", e, url.Values{"token": {at}}, nil, 401, "invalid_client"},
		{"public client_id only (no credential)", e, url.Values{"token": {at}, "client_id": {"pub1"}}, nil, 401, "invalid_client"},
		{"wrong secret", e, url.Values{"token": {at}}, []string{"Authorization", basic("conf", "nope")}, 401, "invalid_client"},
		{"unknown client", e, url.Values{"token": {at}, "client_id": {"nope"}, "client_secret": {"x"}}, nil, 401, "invalid_client"},
		{"Basic", e, url.Values{"token": {at}}, []string{"Authorization", basic("conf", confSecret)}, 200, ""},
		{"client_secret_post", e, url.Values{"token": {at}, "client_id": {"confpost"}, "client_secret": {confSecret}}, nil, 200, ""},
		{"missing token", e, url.Values{}, []string{"Authorization", basic("conf", confSecret)}, 400, "invalid_request"},
		{"anonymous allowed", anon, url.Values{"token": {atAnon}}, nil, 200, ""},
		{"anonymous allowed, missing token", anon, url.Values{}, nil, 400, "invalid_request"},
		{"anonymous allowed, wrong secret still rejected", anon, url.Values{"token": {atAnon}}, []string{"Authorization", basic("conf", "nope")}, 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.e.postForm("/introspect", tt.form, tt.hdr...)
			checkNoStore(t, resp)
			if tt.want == "" {
				m := jsonBody(t, resp)
				if resp.StatusCode != 200 || m["active"] != true {
					t.Errorf("got (%d, active %v), want (200, true)", resp.StatusCode, m["active"])
				}
				return
			}
			if code, status := oauthError(t, resp); code != tt.want || status != tt.status {
				t.Errorf("got (%q, %d), want (%q, %d)", code, status, tt.want, tt.status)
			}
		})
	}
}

func TestIntrospectActive(t *testing.T) {
	e := newEnv(t, func(c *mcpauth.Config) { c.Introspectors = append(c.Introspectors, "confpost") })
	m := e.tokens("pub", url.Values{"scope": {"read"}})
	at, rt := m["access_token"].(string), m["refresh_token"].(string)
	_, claims := jwtParts(t, at)
	t.Run("access token", func(t *testing.T) {
		got := e.introspect(at)
		want := map[string]any{
			"active": true, "scope": "read", "sub": autoSubject, "client_id": "pub", "jti": claims["jti"],
			"token_type": "Bearer", "iss": testIssuer, "grantex_agent_did": "did:grantex:" + testAgentID,
			"grantex_grant_id": claims["grnt"], "grantex_delegation_depth": float64(0),
			"exp": float64(testEpoch.Add(time.Hour).Unix()), "iat": float64(testEpoch.Unix()),
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: got %v, want %v", k, got[k], v)
			}
		}
		if aud, _ := got["aud"].([]any); len(aud) != 1 || aud[0] != resourceA {
			t.Errorf("aud %v, want [%s]", got["aud"], resourceA)
		}
	})
	t.Run("refresh token", func(t *testing.T) {
		got := e.introspect(rt)
		if got["active"] != true || got["client_id"] != "pub" || got["sub"] != autoSubject || got["scope"] != "read" || got["grantex_grant_id"] != claims["grnt"] {
			t.Errorf("got %v, want active refresh token of pub/%s with scope read", got, autoSubject)
		}
	})
	t.Run("JSON body", func(t *testing.T) {
		resp := e.postJSON("/introspect", map[string]string{"token": at, "client_id": "confpost", "client_secret": confSecret})
		if got := jsonBody(t, resp); resp.StatusCode != 200 || got["active"] != true {
			t.Errorf("got (%d, %v), want (200, active)", resp.StatusCode, got)
		}
	})
	t.Run("token_type_hint does not matter", func(t *testing.T) {
		for _, tok := range []string{at, rt} {
			resp := e.postForm("/introspect", url.Values{"token": {tok}, "token_type_hint": {"refresh_token"}}, "Authorization", basic("conf", confSecret))
			if got := jsonBody(t, resp); got["active"] != true {
				t.Errorf("got %v, want active", got)
			}
		}
	})
}

func TestIntrospectInactive(t *testing.T) {
	e := newEnv(t)
	// other shares e's keys but has another issuer: same signature, wrong iss.
	other := newEnv(t, func(c *mcpauth.Config) { c.Issuer = "http://127.0.0.1:9999"; c.Keys = e.keys })
	stranger := newEnv(t)
	m := e.tokens("pub", nil)
	at, rt := m["access_token"].(string), m["refresh_token"].(string)
	revoked := e.tokens("pub", nil)["access_token"].(string)
	if resp := e.postForm("/revoke", url.Values{"token": {revoked}, "client_id": {"pub"}}); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	h, _ := jwtParts(t, at)
	tests := []struct {
		name  string
		token string
	}{
		{"garbage JWT", "not.a.valid.jwt"},
		{"garbage three parts", "a.b.c"},
		{"opaque garbage", "garbage"},
		{"unknown refresh-looking token", "rt_" + strings.Repeat("A", 43)},
		{"huge token", strings.Repeat("x", 20000)},
		{"HS256 with our kid", forge(t, at, func(h, c map[string]any) { h["alg"] = "HS256" }, []byte("secret"))},
		{"HS256 keyed with the JWKS", forge(t, at, func(h, c map[string]any) { h["alg"] = "HS256" }, []byte(peek(e.get("/.well-known/jwks.json"))))},
		{"alg none", forge(t, at, func(h, c map[string]any) { h["alg"] = "none" }, nil)},
		{"tampered claims", func() string {
			p := strings.Split(at, ".")
			f := forge(t, at, func(h, c map[string]any) { c["scope"] = "admin" }, nil)
			return strings.TrimSuffix(f, ".") + "." + p[2]
		}()},
		{"unknown kid", forge(t, at, func(h, c map[string]any) { h["kid"] = "nope" }, []byte("x"))},
		{"typ JWT", func() string {
			p := strings.Split(at, ".")
			f := forge(t, at, func(h, c map[string]any) { h["typ"] = "JWT" }, nil)
			return strings.Split(f, ".")[0] + "." + p[1] + "." + p[2]
		}()},
		{"foreign issuer, same key", other.tokens("pub", nil)["access_token"].(string)},
		{"foreign server", stranger.tokens("pub", nil)["access_token"].(string)},
		{"revoked access token", revoked},
		{"kid of header only", h["kid"].(string)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.postForm("/introspect", url.Values{"token": {tt.token}}, "Authorization", basic("conf", confSecret))
			if resp.StatusCode != 200 {
				t.Fatalf("got %d, want 200", resp.StatusCode)
			}
			if body := strings.TrimSpace(peek(resp)); body != `{"active":false}` {
				t.Errorf("got %s, want {\"active\":false}", body)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		if !e.active(at) || !e.active(rt) {
			t.Fatalf("tokens inactive before expiry")
		}
		e.clock.Advance(time.Hour + time.Minute) // past exp plus leeway
		if e.active(at) {
			t.Errorf("expired access token is active")
		}
		if !e.active(rt) {
			t.Errorf("refresh token expired with the access token")
		}
	})
}

func TestRevoke(t *testing.T) {
	var mu sync.Mutex
	var hookIDs []string
	hooks := func(c *mcpauth.Config) {
		c.Hooks.OnRevocation = func(_ context.Context, id string) error {
			mu.Lock()
			hookIDs = append(hookIDs, id)
			mu.Unlock()
			return nil
		}
	}
	lastHook := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(hookIDs) == 0 {
			return ""
		}
		return hookIDs[len(hookIDs)-1]
	}
	hookCount := func() int { mu.Lock(); defer mu.Unlock(); return len(hookIDs) }

	t.Run("rejections", func(t *testing.T) {
		e := newEnv(t)
		at := e.tokens("pub", nil)["access_token"].(string)
		tests := []struct {
			name   string
			form   url.Values
			hdr    []string
			want   string
			status int
		}{
			{"no client auth", url.Values{"token": {at}}, nil, "invalid_client", 401},
			{"unknown client", url.Values{"token": {at}, "client_id": {"nope"}}, nil, "invalid_client", 401},
			{"wrong secret Basic", url.Values{"token": {at}}, []string{"Authorization", basic("conf", "x")}, "invalid_client", 401},
			{"public client with secret", url.Values{"token": {at}, "client_id": {"pub"}, "client_secret": {"x"}}, nil, "invalid_client", 401},
			{"missing token", url.Values{"client_id": {"pub"}}, nil, "invalid_request", 400},
			{"duplicate token", url.Values{"client_id": {"pub"}, "token": {at, at}}, nil, "invalid_request", 400},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp := e.postForm("/revoke", tt.form, tt.hdr...)
				if code, status := oauthError(t, resp); code != tt.want || status != tt.status {
					t.Errorf("got (%q, %d), want (%q, %d)", code, status, tt.want, tt.status)
				}
				checkNoStore(t, resp)
			})
		}
		if !e.active(at) {
			t.Errorf("a rejected revocation revoked the token")
		}
	})

	t.Run("access token", func(t *testing.T) {
		e := newEnv(t, hooks)
		m := e.tokens("pub", nil)
		at, rt := m["access_token"].(string), m["refresh_token"].(string)
		_, claims := jwtParts(t, at)
		resp := e.postForm("/revoke", url.Values{"token": {at}, "client_id": {"pub"}, "token_type_hint": {"access_token"}})
		if resp.StatusCode != 200 {
			t.Fatalf("got %d, want 200 (%s)", resp.StatusCode, peek(resp))
		}
		checkNoStore(t, resp)
		if e.active(at) {
			t.Errorf("revoked access token still active")
		}
		if _, err := e.srv.VerifyAccessToken(t.Context(), at); err == nil {
			t.Errorf("VerifyAccessToken accepts a revoked token")
		}
		if got := lastHook(); got != claims["jti"] {
			t.Errorf("OnRevocation got %q, want jti %v", got, claims["jti"])
		}
		// Revoking an access token leaves its refresh token alone (RFC 7009
		// §2.1 makes that optional).
		if resp := e.refresh("pub", rt, nil); resp.StatusCode != 200 {
			t.Errorf("refresh after access-token revocation: got %d, want 200", resp.StatusCode)
		}
		// Already revoked: still 200.
		if resp := e.postForm("/revoke", url.Values{"token": {at}, "client_id": {"pub"}}); resp.StatusCode != 200 {
			t.Errorf("second revocation: got %d, want 200", resp.StatusCode)
		}
	})

	t.Run("refresh token ends the grant", func(t *testing.T) {
		e := newEnv(t, hooks)
		m := e.tokens("pub", nil)
		at, rt := m["access_token"].(string), m["refresh_token"].(string)
		_, claims := jwtParts(t, at)
		resp := e.postJSON("/revoke", map[string]string{"token": rt, "client_id": "pub", "token_type_hint": "refresh_token"})
		if resp.StatusCode != 200 {
			t.Fatalf("got %d, want 200 (%s)", resp.StatusCode, peek(resp))
		}
		if code, _ := oauthError(t, e.refresh("pub", rt, nil)); code != "invalid_grant" {
			t.Errorf("refresh after revocation: got %q, want invalid_grant", code)
		}
		if e.active(at) || e.active(rt) {
			t.Errorf("tokens of a revoked grant still active")
		}
		if got := lastHook(); got != claims["grnt"] {
			t.Errorf("OnRevocation got %q, want grant id %v", got, claims["grnt"])
		}
	})

	t.Run("confidential client", func(t *testing.T) {
		e := newEnv(t)
		c, v := e.code("conf", confRedirect, nil)
		resp := e.postForm("/token", tokenReq("", c, v, confRedirect), "Authorization", basic("conf", confSecret))
		m := jsonBody(t, resp)
		for _, send := range []func(tok string) *http.Response{
			func(tok string) *http.Response {
				return e.postForm("/revoke", url.Values{"token": {tok}}, "Authorization", basic("conf", confSecret))
			},
			func(tok string) *http.Response {
				return e.postJSON("/revoke", map[string]string{"token": tok}, "Authorization", basic("conf", confSecret))
			},
		} {
			if resp := send(m["access_token"].(string)); resp.StatusCode != 200 {
				t.Errorf("got %d, want 200 (%s)", resp.StatusCode, peek(resp))
			}
		}
		if e.active(m["access_token"].(string)) {
			t.Errorf("revoked access token still active")
		}
	})

	t.Run("left alone: other client's tokens, unknown and garbage", func(t *testing.T) {
		e := newEnv(t, hooks)
		m := e.tokens("pub", nil)
		at, rt := m["access_token"].(string), m["refresh_token"].(string)
		before := hookCount()
		for name, tok := range map[string]string{
			"other's access token":  at,
			"other's refresh token": rt,
			"unknown refresh":       "rt_" + strings.Repeat("B", 43),
			"non-JWT garbage":       "garbage",
			"JWT garbage":           "not.a.valid.jwt",
			"huge":                  strings.Repeat("g", 20000),
		} {
			resp := e.postForm("/revoke", url.Values{"token": {tok}, "client_id": {"other"}})
			if resp.StatusCode != 200 {
				t.Errorf("%s: got %d, want 200", name, resp.StatusCode)
			}
		}
		if !e.active(at) || !e.active(rt) {
			t.Errorf("another client revoked pub's tokens")
		}
		if n := hookCount(); n != before {
			t.Errorf("OnRevocation fired %d times for tokens left alone", n-before)
		}
	})
}
