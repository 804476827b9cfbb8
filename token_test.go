package mcpauth_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
)

// checkNoStore asserts RFC 6749 §5.1 caching headers.
func checkNoStore(t *testing.T, resp *http.Response) {
	t.Helper()
	if cc, p := resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"); cc != "no-store" || p != "no-cache" {
		t.Errorf("got (Cache-Control %q, Pragma %q), want (no-store, no-cache)", cc, p)
	}
}

// TestTokenRejections: every rejection of POST /token, as OAuth JSON with
// no-store. Deviation from the seed's tests: a request without client_id is
// 401 invalid_client (no client authentication at all, RFC 6749 §5.2), not
// 400 invalid_request. A redirect_uri sent at /authorize must be repeated
// (OAuth 2.1 §4.1.3): omitted is invalid_grant (TestTokenRedirectURIMustRepeat).

func TestTokenRejections(t *testing.T) {
	e := newEnv(t)
	type req struct {
		form url.Values
		hdr  []string
	}
	// fresh returns a valid code request of client pub.
	fresh := func() url.Values {
		c, v := e.code("pub", pubRedirect, nil)
		return tokenReq("pub", c, v, pubRedirect)
	}
	freshConf := func() url.Values {
		c, v := e.code("conf", confRedirect, nil)
		return tokenReq("", c, v, confRedirect)
	}
	shortVerifier := strings.Repeat("v", 42)
	tests := []struct {
		name   string
		build  func() req
		want   string
		status int
		desc   string
		basic  bool // WWW-Authenticate: Basic expected
	}{
		{"missing grant_type", func() req { f := fresh(); f.Del("grant_type"); return req{form: f} }, "invalid_request", 400, "grant_type", false},
		{"client_credentials", func() req {
			return req{form: url.Values{"grant_type": {"client_credentials"}}, hdr: []string{"Authorization", basic("conf", confSecret)}}
		}, "unsupported_grant_type", 400, "", false},
		{"password", func() req {
			return req{form: url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}, "client_id": {"pub"}}}
		}, "unsupported_grant_type", 400, "", false},
		{"implicit", func() req { return req{form: url.Values{"grant_type": {"implicit"}, "client_id": {"pub"}}} }, "unsupported_grant_type", 400, "", false},
		{"device_code", func() req {
			return req{form: url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "client_id": {"pub"}}}
		}, "unsupported_grant_type", 400, "", false},
		{"missing code", func() req { f := fresh(); f.Del("code"); return req{form: f} }, "invalid_request", 400, "code", false},
		{"missing code_verifier", func() req { f := fresh(); f.Del("code_verifier"); return req{form: f} }, "invalid_request", 400, "code_verifier", false},
		{"missing redirect_uri (two registered)", func() req { f := fresh(); f.Del("redirect_uri"); return req{form: f} }, "invalid_grant", 400, "redirect_uri", false},
		{"missing client_id", func() req { f := fresh(); f.Del("client_id"); return req{form: f} }, "invalid_client", 401, "", false},
		{"unknown client", func() req { f := fresh(); f.Set("client_id", "nope"); return req{form: f} }, "invalid_client", 401, "", false},
		{"unknown client via Basic", func() req {
			f := fresh()
			f.Del("client_id")
			return req{form: f, hdr: []string{"Authorization", basic("nope", "x")}}
		}, "invalid_client", 401, "", true},
		{"wrong secret via Basic", func() req { return req{form: freshConf(), hdr: []string{"Authorization", basic("conf", "wrong")}} }, "invalid_client", 401, "", true},
		{"wrong secret via post", func() req {
			f := freshConf()
			f.Set("client_id", "conf")
			f.Set("client_secret", "wrong")
			return req{form: f}
		}, "invalid_client", 401, "", false},
		{"confidential without secret", func() req { f := freshConf(); f.Set("client_id", "conf"); return req{form: f} }, "invalid_client", 401, "", false},
		{"public client sends a secret", func() req { f := fresh(); f.Set("client_secret", "x"); return req{form: f} }, "invalid_client", 401, "", false},
		{"public client via Basic", func() req {
			f := fresh()
			f.Del("client_id")
			return req{form: f, hdr: []string{"Authorization", basic("pub", "")}}
		}, "invalid_client", 401, "", true},
		{"Basic and body secret", func() req {
			f := freshConf()
			f.Set("client_secret", confSecret)
			return req{form: f, hdr: []string{"Authorization", basic("conf", confSecret)}}
		}, "invalid_request", 400, "", false},
		{"Basic and other body client_id", func() req {
			f := freshConf()
			f.Set("client_id", "confpost")
			return req{form: f, hdr: []string{"Authorization", basic("conf", confSecret)}}
		}, "invalid_client", 401, "", false},
		{"Basic not base64", func() req { return req{form: freshConf(), hdr: []string{"Authorization", "Basic !!!"}} }, "invalid_client", 401, "", true},
		{"Basic without colon", func() req { return req{form: freshConf(), hdr: []string{"Authorization", "Basic Y29uZg=="}} }, "invalid_client", 401, "", true},
		{"Basic bad percent-encoding", func() req {
			return req{form: freshConf(), hdr: []string{"Authorization", "Basic Y29uZjolenol"}} // "conf:%zz%"
		}, "invalid_client", 401, "", true},
		{"Bearer header", func() req { return req{form: fresh(), hdr: []string{"Authorization", "Bearer abc"}} }, "invalid_client", 401, "", false},
		{"unknown code", func() req { f := fresh(); f.Set("code", "nope"); return req{form: f} }, "invalid_grant", 400, "", false},
		{"huge code", func() req { f := fresh(); f.Set("code", strings.Repeat("c", 300)); return req{form: f} }, "invalid_grant", 400, "", false},
		{"wrong verifier", func() req { f := fresh(); f.Set("code_verifier", newVerifier()); return req{form: f} }, "invalid_grant", 400, "PKCE", false},
		{"verifier shorter than 43", func() req {
			q := url.Values{"code_challenge": {mcpauth.S256Challenge(shortVerifier)}}
			c, _ := e.code("pub", pubRedirect, q)
			return req{form: tokenReq("pub", c, shortVerifier, pubRedirect)}
		}, "invalid_grant", 400, "PKCE", false},
		{"code of another client", func() req { f := fresh(); f.Set("client_id", "other"); return req{form: f} }, "invalid_grant", 400, "another client", false},
		{"redirect_uri mismatch", func() req { f := fresh(); f.Set("redirect_uri", pubRedirect2); return req{form: f} }, "invalid_grant", 400, "redirect_uri", false},
		{"loopback port differs from authorization", func() req { f := fresh(); f.Set("redirect_uri", "http://127.0.0.1:9/cb"); return req{form: f} }, "invalid_grant", 400, "redirect_uri", false},
		{"resource mismatch", func() req { f := fresh(); f.Set("resource", resourceB); return req{form: f} }, "invalid_target", 400, "", false},
		{"two resources", func() req { f := fresh(); f["resource"] = []string{resourceA, resourceA}; return req{form: f} }, "invalid_target", 400, "", false},
		{"duplicate code", func() req { f := fresh(); f.Add("code", "x"); return req{form: f} }, "invalid_request", 400, "code", false},
		{"duplicate grant_type", func() req { f := fresh(); f.Add("grant_type", "refresh_token"); return req{form: f} }, "invalid_request", 400, "grant_type", false},
		{"refresh without token", func() req {
			return req{form: url.Values{"grant_type": {"refresh_token"}, "client_id": {"pub"}}}
		}, "invalid_request", 400, "refresh_token", false},
		{"refresh unknown token", func() req {
			return req{form: url.Values{"grant_type": {"refresh_token"}, "client_id": {"pub"}, "refresh_token": {"rt_nope"}}}
		}, "invalid_grant", 400, "", false},
		{"refresh unknown client", func() req {
			return req{form: url.Values{"grant_type": {"refresh_token"}, "client_id": {"nope"}, "refresh_token": {"rt_x"}}}
		}, "invalid_client", 401, "", false},
		{"refresh huge token", func() req {
			return req{form: url.Values{"grant_type": {"refresh_token"}, "client_id": {"pub"}, "refresh_token": {strings.Repeat("r", 600)}}}
		}, "invalid_grant", 400, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.build()
			resp := e.postForm("/token", r.form, r.hdr...)
			code, status := oauthError(t, resp)
			if code != tt.want || status != tt.status {
				t.Errorf("got (%q, %d), want (%q, %d): %s", code, status, tt.want, tt.status, errDesc(t, resp))
			}
			if d := errDesc(t, resp); !strings.Contains(d, tt.desc) {
				t.Errorf("error_description %q does not mention %q", d, tt.desc)
			}
			if got := strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic"); got != tt.basic {
				t.Errorf("WWW-Authenticate %q, want Basic=%v", resp.Header.Get("WWW-Authenticate"), tt.basic)
			}
			checkNoStore(t, resp)
		})
	}
}

// TestTokenSuccess: 200 with token_type "Bearer" (the seed sends "bearer";
// RFC 6749 §5.1 token types are case-insensitive), expires_in from
// AccessTokenTTL, and the granted scope.
func TestTokenSuccess(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name    string
		client  string
		redir   string
		send    func(e *env, f url.Values) *http.Response
		refresh bool
	}{
		{"form, public", "pub", pubRedirect, func(e *env, f url.Values) *http.Response { return e.postForm("/token", f) }, true},
		{"form with charset", "pub", pubRedirect, func(e *env, f url.Values) *http.Response {
			return e.postRaw("/token", "application/x-www-form-urlencoded; charset=UTF-8", f.Encode())
		}, true},
		{"JSON (seed clients)", "pub", pubRedirect, func(e *env, f url.Values) *http.Response {
			m := map[string]string{}
			for k := range f {
				m[k] = f.Get(k)
			}
			return e.postJSON("/token", m)
		}, true},
		{"Basic", "conf", confRedirect, func(e *env, f url.Values) *http.Response {
			f.Del("client_id")
			return e.postForm("/token", f, "Authorization", basic("conf", confSecret))
		}, true},
		{"client_secret_post", "confpost", confRedirect, func(e *env, f url.Values) *http.Response {
			f.Set("client_secret", confSecret)
			return e.postForm("/token", f)
		}, true},
		{"Basic with special characters (RFC 6749 §2.3.1)", weirdClientID, confRedirect, func(e *env, f url.Values) *http.Response {
			f.Del("client_id")
			return e.postForm("/token", f, "Authorization", basic(weirdClientID, weirdSecret))
		}, true},
		{"Basic with body client_id too", "conf", confRedirect, func(e *env, f url.Values) *http.Response {
			return e.postForm("/token", f, "Authorization", basic("conf", confSecret))
		}, true},
		{"redirect_uri omitted, single registered", "pub1", "", func(e *env, f url.Values) *http.Response { return e.postForm("/token", f) }, true},
		{"no refresh for authorization_code-only client", "nort", pubRedirect, func(e *env, f url.Values) *http.Response { return e.postForm("/token", f) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, v := e.code(tt.client, tt.redir, nil)
			resp := tt.send(e, tokenReq(tt.client, c, v, tt.redir))
			if resp.StatusCode != 200 {
				t.Fatalf("got %d, want 200: %s", resp.StatusCode, peek(resp))
			}
			checkNoStore(t, resp)
			m := jsonBody(t, resp)
			at, _ := m["access_token"].(string)
			rt, hasRT := m["refresh_token"].(string)
			if at == "" || m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) || m["scope"] != "read write" {
				t.Errorf("got (access_token %.10q, token_type %v, expires_in %v, scope %v), want (a JWT, Bearer, 3600, read write)",
					at, m["token_type"], m["expires_in"], m["scope"])
			}
			if hasRT != tt.refresh || (tt.refresh && !strings.HasPrefix(rt, "rt_")) {
				t.Errorf("refresh_token %q, want present=%v", rt, tt.refresh)
			}
		})
	}
}

// TestTokenExpiresInUsesServerClock: expires_in is measured on Config.Now.
func TestTokenExpiresInUsesServerClock(t *testing.T) {
	e := newEnv(t, func(c *mcpauth.Config) { c.AccessTokenTTL = 10 * time.Minute })
	m := e.tokens("pub1", nil)
	if got := m["expires_in"]; got != float64(600) {
		t.Errorf("expires_in %v, want 600", got)
	}
}

func TestTokenExpiredCode(t *testing.T) {
	e := newEnv(t, func(c *mcpauth.Config) { c.CodeTTL = time.Minute })
	c, v := e.code("pub", pubRedirect, nil)
	e.clock.Advance(time.Minute)
	resp := e.postForm("/token", tokenReq("pub", c, v, pubRedirect))
	if code, status := oauthError(t, resp); code != "invalid_grant" || status != 400 {
		t.Errorf("got (%q, %d), want (%q, %d)", code, status, "invalid_grant", 400)
	}
}

// TestTokenCodeReplay: a second redemption fails and revokes what the first
// one issued (OAuth 2.1 §4.1.3).
func TestTokenCodeReplay(t *testing.T) {
	e := newEnv(t)
	c, v := e.code("pub", pubRedirect, nil)
	form := tokenReq("pub", c, v, pubRedirect)
	resp := e.postForm("/token", form)
	if resp.StatusCode != 200 {
		t.Fatalf("first redemption: %d %s", resp.StatusCode, peek(resp))
	}
	first := jsonBody(t, resp)
	at, rt := first["access_token"].(string), first["refresh_token"].(string)
	if !e.active(at) {
		t.Fatalf("access token inactive before the replay")
	}
	resp = e.postForm("/token", form)
	if code, status := oauthError(t, resp); code != "invalid_grant" || status != 400 {
		t.Errorf("replay: got (%q, %d), want (%q, %d)", code, status, "invalid_grant", 400)
	}
	if e.active(at) {
		t.Errorf("access token from the replayed code is still active")
	}
	if e.active(rt) {
		t.Errorf("refresh token from the replayed code is still active")
	}
	if code, _ := oauthError(t, e.refresh("pub", rt, nil)); code != "invalid_grant" {
		t.Errorf("refresh after replay: got %q, want invalid_grant", code)
	}
	if !strings.Contains(e.logs.String(), "replay") {
		t.Errorf("replay not logged")
	}
}

// TestTokenFailedRedemptionBurnsCode: a code presented with a wrong verifier
// cannot be retried with the right one.
func TestTokenFailedRedemptionBurnsCode(t *testing.T) {
	e := newEnv(t)
	c, v := e.code("pub", pubRedirect, nil)
	if code, _ := oauthError(t, e.postForm("/token", tokenReq("pub", c, newVerifier(), pubRedirect))); code != "invalid_grant" {
		t.Fatalf("wrong verifier: got %q, want invalid_grant", code)
	}
	if code, _ := oauthError(t, e.postForm("/token", tokenReq("pub", c, v, pubRedirect))); code != "invalid_grant" {
		t.Errorf("retry with the right verifier: got %q, want invalid_grant", code)
	}
}

// TestTokenCodeRace: of 64 concurrent redemptions exactly one succeeds.
// Run with -race.
func TestTokenCodeRace(t *testing.T) {
	e := newEnv(t)
	c, v := e.code("pub", pubRedirect, nil)
	form := tokenReq("pub", c, v, pubRedirect)
	const n = 64
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := e.req(http.MethodPost, "/token", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := newRecorder()
			e.srv.ServeHTTP(rec, r)
			statuses[i] = rec.Code
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case 200:
			ok++
		case 400:
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if ok != 1 {
		t.Errorf("got %d successful redemptions, want 1", ok)
	}
}

func TestTokenRefresh(t *testing.T) {
	t.Run("rotation and reuse revokes the grant", func(t *testing.T) {
		e := newEnv(t)
		m := e.tokens("pub", nil)
		rt1 := m["refresh_token"].(string)
		resp := e.refresh("pub", rt1, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("refresh: %d %s", resp.StatusCode, peek(resp))
		}
		checkNoStore(t, resp)
		m2 := jsonBody(t, resp)
		rt2, at2 := m2["refresh_token"].(string), m2["access_token"].(string)
		if rt2 == "" || rt2 == rt1 || m2["token_type"] != "Bearer" || m2["scope"] != "read write" {
			t.Fatalf("got (refresh %q, token_type %v, scope %v), want a new refresh token, Bearer, read write", rt2, m2["token_type"], m2["scope"])
		}
		if e.active(rt1) {
			t.Errorf("rotated refresh token is still active")
		}
		e.clock.Advance(11 * time.Second) // past the retry window (10 s)
		// Reuse of the old one: invalid_grant, and the whole grant ends.
		if code, status := oauthError(t, e.refresh("pub", rt1, nil)); code != "invalid_grant" || status != 400 {
			t.Errorf("reuse: got (%q, %d), want (invalid_grant, 400)", code, status)
		}
		if code, _ := oauthError(t, e.refresh("pub", rt2, nil)); code != "invalid_grant" {
			t.Errorf("new refresh token after reuse: got %q, want invalid_grant", code)
		}
		if e.active(at2) || e.active(m["access_token"].(string)) {
			t.Errorf("access tokens of the grant still active after refresh reuse")
		}
	})
	t.Run("another client's refresh token", func(t *testing.T) {
		e := newEnv(t)
		rt := e.tokens("pub", nil)["refresh_token"].(string)
		if code, status := oauthError(t, e.refresh("other", rt, nil)); code != "invalid_grant" || status != 400 {
			t.Errorf("got (%q, %d), want (invalid_grant, 400)", code, status)
		}
		// Not rotated: the owner can still use it.
		if resp := e.refresh("pub", rt, nil); resp.StatusCode != 200 {
			t.Errorf("owner refresh after foreign attempt: got %d, want 200 (%s)", resp.StatusCode, peek(resp))
		}
	})
	t.Run("confidential client must authenticate", func(t *testing.T) {
		e := newEnv(t)
		c, v := e.code("conf", confRedirect, nil)
		resp := e.postForm("/token", tokenReq("", c, v, confRedirect), "Authorization", basic("conf", confSecret))
		rt := jsonBody(t, resp)["refresh_token"].(string)
		if code, status := oauthError(t, e.refresh("conf", rt, nil)); code != "invalid_client" || status != 401 {
			t.Errorf("without secret: got (%q, %d), want (invalid_client, 401)", code, status)
		}
		resp = e.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "Authorization", basic("conf", confSecret))
		if resp.StatusCode != 200 {
			t.Errorf("with Basic: got %d (%s), want 200", resp.StatusCode, peek(resp))
		}
	})
	t.Run("scope narrowing and widening", func(t *testing.T) {
		e := newEnv(t)
		rt := e.tokens("pub", url.Values{"scope": {"read write"}})["refresh_token"].(string)
		tests := []struct {
			scope, want string
			status      int
		}{
			{"admin", "invalid_scope", 400},
			{"read write offline_access", "invalid_scope", 400},
			{"read", "", 200},
			{"write read", "", 200},
			{"", "", 200}, // the original scope
		}
		for _, tt := range tests {
			resp := e.refresh("pub", rt, url.Values{"scope": {tt.scope}})
			if resp.StatusCode != tt.status {
				t.Fatalf("scope %q: got %d, want %d (%s)", tt.scope, resp.StatusCode, tt.status, peek(resp))
			}
			if tt.status != 200 {
				if code, _ := oauthError(t, resp); code != tt.want {
					t.Errorf("scope %q: got %q, want %q", tt.scope, code, tt.want)
				}
				continue
			}
			m := jsonBody(t, resp)
			rt = m["refresh_token"].(string)
			_, claims := jwtParts(t, m["access_token"].(string))
			want := tt.scope
			if want == "" {
				want = "read write"
			}
			if claims["scope"] != want || m["scope"] != want {
				t.Errorf("scope %q: got (claim %v, response %v), want %q", tt.scope, claims["scope"], m["scope"], want)
			}
		}
	})
	t.Run("resource mismatch", func(t *testing.T) {
		e := newEnv(t)
		rt := e.tokens("pub", nil)["refresh_token"].(string)
		if code, _ := oauthError(t, e.refresh("pub", rt, url.Values{"resource": {resourceB}})); code != "invalid_target" {
			t.Errorf("got %q, want invalid_target", code)
		}
		if resp := e.refresh("pub", rt, url.Values{"resource": {resourceA}}); resp.StatusCode != 200 {
			t.Errorf("same resource: got %d, want 200 (%s)", resp.StatusCode, peek(resp))
		}
	})
	t.Run("client no longer registered for refresh_token", func(t *testing.T) {
		e := newEnv(t)
		reg := jsonBody(t, e.postJSON("/register", map[string]any{"redirect_uris": []string{pubRedirect},
			"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}}))
		id := reg["client_id"].(string)
		rt := e.tokens(id, nil)["refresh_token"].(string)
		cl, err := e.clients.GetClient(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		cl.GrantTypes = []string{"authorization_code"}
		if err := e.clients.SetClient(t.Context(), cl); err != nil {
			t.Fatal(err)
		}
		if code, status := oauthError(t, e.refresh(id, rt, nil)); code != "unauthorized_client" || status != 400 {
			t.Errorf("got (%q, %d), want (unauthorized_client, 400)", code, status)
		}
	})
	t.Run("expired refresh token", func(t *testing.T) {
		e := newEnv(t, func(c *mcpauth.Config) { c.RefreshTokenTTL = time.Hour })
		rt := e.tokens("pub", nil)["refresh_token"].(string)
		e.clock.Advance(time.Hour)
		if code, _ := oauthError(t, e.refresh("pub", rt, nil)); code != "invalid_grant" {
			t.Errorf("got %q, want invalid_grant", code)
		}
	})
}

// TestTokenRefreshIssuance: refresh tokens only for clients that registered
// the refresh_token grant or asked for offline_access.
func TestTokenRefreshIssuance(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, client, scope string
		want                bool
	}{
		{"refresh_token grant registered", "pub1", "read", true},
		{"authorization_code only", "nort", "read write", false},
		{"authorization_code only, default scopes", "nort", "", false},
		{"authorization_code only with offline_access", "nort", "read offline_access", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := url.Values{}
			if tt.scope != "" {
				extra.Set("scope", tt.scope)
			}
			m := e.tokens(tt.client, extra)
			rt, ok := m["refresh_token"].(string)
			if ok != tt.want {
				t.Fatalf("refresh_token present=%v, want %v", ok, tt.want)
			}
			if ok {
				if resp := e.refresh(tt.client, rt, nil); resp.StatusCode != 200 {
					t.Errorf("refresh: got %d, want 200 (%s)", resp.StatusCode, peek(resp))
				}
			}
		})
	}
}

func TestAccessTokenClaims(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, func(c *mcpauth.Config) { c.SigningAlgorithm, c.Grantex.DeveloperID = alg, "dev-7" })
			m := e.tokens("pub1", url.Values{"scope": {"read write"}, "resource": {resourceB}})
			hdr, claims := jwtParts(t, m["access_token"].(string))
			if hdr["typ"] != "at+jwt" || hdr["alg"] != alg || hdr["kid"] == nil || hdr["kid"] == "" {
				t.Errorf("header %v, want typ at+jwt, alg %s and a kid", hdr, alg)
			}
			num := func(k string) int64 {
				n, _ := claims[k].(json.Number).Int64()
				return n
			}
			want := map[string]any{
				"iss": testIssuer, "sub": autoSubject, "aud": resourceB, "client_id": "pub1", "scope": "read write",
				"agt": "did:grantex:" + testAgentID, "dev": "dev-7",
			}
			for k, v := range want {
				if claims[k] != v {
					t.Errorf("%s: got %v, want %v", k, claims[k], v)
				}
			}
			if iat, exp := num("iat"), num("exp"); iat != testEpoch.Unix() || exp != testEpoch.Add(time.Hour).Unix() {
				t.Errorf("got (iat %d, exp %d), want (%d, %d)", iat, exp, testEpoch.Unix(), testEpoch.Add(time.Hour).Unix())
			}
			if d, ok := claims["delegationDepth"].(json.Number); !ok || d.String() != "0" {
				t.Errorf("delegationDepth %v, want 0", claims["delegationDepth"])
			}
			var scp []string
			for _, s := range claims["scp"].([]any) {
				scp = append(scp, s.(string))
			}
			if !slices.Equal(scp, []string{"read", "write"}) {
				t.Errorf("scp %q, want [read write]", scp)
			}
			if jti, _ := claims["jti"].(string); jti == "" {
				t.Errorf("no jti")
			}
			if g, _ := claims["grnt"].(string); !strings.HasPrefix(g, "grnt_") {
				t.Errorf("grnt %v, want grnt_…", claims["grnt"])
			}
			// The server verifies its own token.
			if _, err := e.srv.VerifyAccessToken(t.Context(), m["access_token"].(string)); err != nil {
				t.Errorf("VerifyAccessToken: %v", err)
			}
		})
	}
	t.Run("jti unique, grant shared across refresh", func(t *testing.T) {
		e := newEnv(t)
		m := e.tokens("pub1", nil)
		_, c1 := jwtParts(t, m["access_token"].(string))
		m2 := jsonBody(t, e.refresh("pub1", m["refresh_token"].(string), nil))
		_, c2 := jwtParts(t, m2["access_token"].(string))
		if c1["jti"] == c2["jti"] || c1["grnt"] != c2["grnt"] {
			t.Errorf("got (jti %v/%v, grnt %v/%v), want distinct jti, same grnt", c1["jti"], c2["jti"], c1["grnt"], c2["grnt"])
		}
	})
	t.Run("no resource: aud is the issuer", func(t *testing.T) {
		e := newEnv(t, func(c *mcpauth.Config) { c.Resources = nil })
		m := e.tokens("pub1", url.Values{"resource": {""}})
		if _, claims := jwtParts(t, m["access_token"].(string)); claims["aud"] != testIssuer {
			t.Errorf("aud %v, want %s", claims["aud"], testIssuer)
		}
	})
	t.Run("single resource is the default", func(t *testing.T) {
		e := newEnv(t, func(c *mcpauth.Config) { c.Resources = []string{resourceB} })
		m := e.tokens("pub1", url.Values{"resource": {""}})
		if _, claims := jwtParts(t, m["access_token"].(string)); claims["aud"] != resourceB {
			t.Errorf("aud %v, want %s", claims["aud"], resourceB)
		}
	})
}

// TestPKCEHelpers: the seed's pkce.test.ts. The helper does no length check
// (the token endpoint does: see "verifier shorter than 43").
func TestPKCEHelpers(t *testing.T) {
	long := strings.Repeat("a", 128)
	tests := []struct {
		name, verifier, challenge string
		want                      bool
	}{
		{"RFC 7636 appendix B", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", true},
		{"wrong verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", false},
		{"3 characters", "abc", mcpauth.S256Challenge("abc"), true},
		{"128 characters", long, mcpauth.S256Challenge(long), true},
		{"plain is not S256", long, long, false},
		{"empty challenge", "abc", "", false},
	}
	for _, tt := range tests {
		if got := mcpauth.VerifyCodeChallenge(tt.verifier, tt.challenge); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
