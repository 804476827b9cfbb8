package mcpauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store"
)

// TestAuthorizePhase1 covers errors about the client or its redirect URI:
// shown to the user (HTML or JSON by Accept), never redirected.
// Deviation from the seed's tests: an unknown client is a 400 invalid_client
// page, and response_type is checked only after client_id and redirect_uri,
// so that its error can be redirected (RFC 6749 §4.1.2.1).
func TestAuthorizePhase1(t *testing.T) {
	e := newEnv(t)
	v := newVerifier()
	good := authzQuery("pub", pubRedirect, v)
	tests := []struct {
		name   string
		query  string
		status int
		want   string
		desc   string // substring of error_description
	}{
		{"missing client_id", merge(good, url.Values{"client_id": {""}}).Encode(), 400, "invalid_request", "client_id"},
		{"unknown client_id", merge(good, url.Values{"client_id": {"nope"}}).Encode(), 400, "invalid_client", ""},
		{"huge client_id", merge(good, url.Values{"client_id": {strings.Repeat("x", 300)}}).Encode(), 400, "invalid_client", ""},
		{"unregistered redirect_uri", merge(good, url.Values{"redirect_uri": {"https://evil.example.com/cb"}}).Encode(), 400, "invalid_request", "redirect_uri"},
		{"redirect_uri omitted with two registered", merge(good, url.Values{"redirect_uri": {""}}).Encode(), 400, "invalid_request", "redirect_uri"},
		{"localhost is not 127.0.0.1", merge(good, url.Values{"redirect_uri": {"http://localhost/cb"}}).Encode(), 400, "invalid_request", "redirect_uri"},
		{"loopback path differs", merge(good, url.Values{"redirect_uri": {"http://127.0.0.1:5000/cb/x"}}).Encode(), 400, "invalid_request", "redirect_uri"},
		{"loopback trailing slash", merge(good, url.Values{"redirect_uri": {"http://127.0.0.1:5000/cb/"}}).Encode(), 400, "invalid_request", "redirect_uri"},
		{"loopback query added", merge(good, url.Values{"redirect_uri": {"http://127.0.0.1:5000/cb?x=1"}}).Encode(), 400, "invalid_request", "redirect_uri"},
		{"https port differs", merge(good, url.Values{"redirect_uri": {"https://app.example.com:8443/cb"}}).Encode(), 400, "invalid_request", "redirect_uri"},
		{"https explicit default port", merge(good, url.Values{"redirect_uri": {"https://app.example.com:443/cb"}}).Encode(), 400, "invalid_request", "redirect_uri"},
		{"https path case", merge(good, url.Values{"redirect_uri": {"https://app.example.com/CB"}}).Encode(), 400, "invalid_request", "redirect_uri"},
		{"fragment", merge(good, url.Values{"redirect_uri": {pubRedirect2 + "#x"}}).Encode(), 400, "invalid_request", "redirect_uri"},
		{"duplicate client_id", good.Encode() + "&client_id=other", 400, "invalid_request", "client_id"},
		{"duplicate redirect_uri", good.Encode() + "&redirect_uri=" + url.QueryEscape(pubRedirect2), 400, "invalid_request", "redirect_uri"},
		{"bad percent-encoding", good.Encode() + "&x=%zz", 400, "invalid_request", ""},
		{"unknown client with bad request too", "response_type=token&client_id=nope&redirect_uri=https%3A%2F%2Fevil.example.com", 400, "invalid_client", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// API clients get JSON.
			resp := e.get("/authorize?"+tt.query, "Accept", "application/json")
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Fatalf("phase 1 error redirected to %s", loc)
			}
			if code, status := oauthError(t, resp); code != tt.want || status != tt.status {
				t.Errorf("got (%q, %d), want (%q, %d)", code, status, tt.want, tt.status)
			}
			if d := errDesc(t, resp); !strings.Contains(d, tt.desc) {
				t.Errorf("error_description %q does not mention %q", d, tt.desc)
			}
			// Browsers get a page.
			resp = e.get("/authorize?"+tt.query, "Accept", "text/html,application/xhtml+xml")
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Fatalf("phase 1 error redirected to %s", loc)
			}
			body := peek(resp)
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, tt.want) {
				t.Errorf("got (%d, %q), want (%d, text/html) with %q in the page", resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, tt.want)
			}
			checkPageHeaders(t, resp)
		})
	}
}

// checkPageHeaders asserts the security headers of every HTML page.
func checkPageHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	if h.Get("X-Frame-Options") != "DENY" || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") ||
		h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("page headers: X-Frame-Options %q, CSP %q, Referrer-Policy %q, Cache-Control %q", h.Get("X-Frame-Options"), csp, h.Get("Referrer-Policy"), h.Get("Cache-Control"))
	}
}

// TestAuthorizePhase2 covers errors once the redirect URI is trusted: 302 to
// it with error, state and iss (RFC 6749 §4.1.2.1, RFC 9207). Deviations from
// the seed's JSON 400s: response_type=token and a resource outside the
// allow-list (invalid_target, RFC 8707) are redirect errors.
func TestAuthorizePhase2(t *testing.T) {
	e := newEnv(t, func(c *mcpauth.Config) {
		c.StaticClients = append(c.StaticClients, store.Client{
			ID:             "scoped",
			ClientMetadata: store.ClientMetadata{RedirectURIs: []string{pubRedirect}, TokenEndpointAuthMethod: "none", Scope: "read"},
		})
	})
	v := newVerifier()
	good := authzQuery("pub", pubRedirect, v)
	good.Set("state", "s t&a=te/é")
	good.Set("scope", "read")
	tests := []struct {
		name   string
		query  string
		want   string
		desc   string
		noStat bool // state must be absent (it was repeated: which one to echo?)
	}{
		{"response_type missing", merge(good, url.Values{"response_type": {""}}).Encode(), "invalid_request", "response_type", false},
		{"response_type token", merge(good, url.Values{"response_type": {"token"}}).Encode(), "unsupported_response_type", "", false},
		{"response_type code token", merge(good, url.Values{"response_type": {"code token"}}).Encode(), "unsupported_response_type", "", false},
		{"code_challenge missing", merge(good, url.Values{"code_challenge": {""}}).Encode(), "invalid_request", "PKCE", false},
		{"code_challenge_method plain", merge(good, url.Values{"code_challenge_method": {"plain"}}).Encode(), "invalid_request", "S256", false},
		{"code_challenge_method missing", merge(good, url.Values{"code_challenge_method": {""}}).Encode(), "invalid_request", "S256", false},
		{"code_challenge_method lowercase", merge(good, url.Values{"code_challenge_method": {"s256"}}).Encode(), "invalid_request", "S256", false},
		{"challenge too short", merge(good, url.Values{"code_challenge": {"abc"}}).Encode(), "invalid_request", "code_challenge", false},
		{"challenge bad chars", merge(good, url.Values{"code_challenge": {strings.Repeat("+", 43)}}).Encode(), "invalid_request", "code_challenge", false},
		{"challenge too long", merge(good, url.Values{"code_challenge": {strings.Repeat("a", 44)}}).Encode(), "invalid_request", "code_challenge", false},
		{"unsupported scope", merge(good, url.Values{"scope": {"read admin"}}).Encode(), "invalid_scope", "admin", false},
		{"scope not registered by client", merge(authzQuery("scoped", pubRedirect, v), url.Values{"scope": {"write"}, "state": {good.Get("state")}}).Encode(), "invalid_scope", "write", false},
		{"resource outside allow-list", merge(good, url.Values{"resource": {"https://evil.example.com/mcp"}}).Encode(), "invalid_target", "", false},
		{"resource relative", merge(good, url.Values{"resource": {"/mcp"}}).Encode(), "invalid_target", "", false},
		{"resource with fragment", merge(good, url.Values{"resource": {resourceA + "#x"}}).Encode(), "invalid_target", "", false},
		{"two resources", merge(good, url.Values{"resource": {resourceA, resourceB}}).Encode(), "invalid_target", "", false},
		{"duplicate scope", good.Encode() + "&scope=read", "invalid_request", "scope", false},
		{"duplicate code_challenge", good.Encode() + "&code_challenge=" + good.Get("code_challenge"), "invalid_request", "code_challenge", false},
		{"duplicate state", good.Encode() + "&state=again", "invalid_request", "state", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.get("/authorize?" + tt.query)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("got %d, want 302 (body %.300s)", resp.StatusCode, peek(resp))
			}
			u := location(t, resp)
			q := u.Query()
			if got := u.Scheme + "://" + u.Host + u.Path; got != pubRedirect {
				t.Errorf("redirected to %s, want %s", got, pubRedirect)
			}
			if q.Get("error") != tt.want || q.Get("iss") != testIssuer {
				t.Errorf("got (error %q, iss %q), want (%q, %q)", q.Get("error"), q.Get("iss"), tt.want, testIssuer)
			}
			wantState := good.Get("state")
			if tt.noStat {
				wantState = ""
			}
			if got, ok := q["state"]; (ok && got[0] != wantState) || (!ok && wantState != "") {
				t.Errorf("state %q, want %q", got, wantState)
			}
			if !strings.Contains(q.Get("error_description"), tt.desc) {
				t.Errorf("error_description %q does not mention %q", q.Get("error_description"), tt.desc)
			}
			if q.Get("code") != "" {
				t.Errorf("error redirect carries a code")
			}
		})
	}
}

func TestAuthorizeRedirectMatching(t *testing.T) {
	e := newEnv(t, func(c *mcpauth.Config) {
		c.StaticClients = append(c.StaticClients,
			store.Client{ID: "q", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{"https://app.example.com/cb?tenant=7"}, TokenEndpointAuthMethod: "none"}},
			store.Client{ID: "native", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{"com.example.app:/oauth"}, TokenEndpointAuthMethod: "none"}},
			store.Client{ID: "v6", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{"http://[::1]/cb"}, TokenEndpointAuthMethod: "none"}})
	})
	tests := []struct {
		name, client, redirect, want string
	}{
		{"loopback any port", "pub", "http://127.0.0.1:54321/cb", "http://127.0.0.1:54321/cb"},
		{"loopback registered port-less exact", "pub", pubRedirect, pubRedirect},
		{"IPv6 loopback any port", "v6", "http://[::1]:4000/cb", "http://[::1]:4000/cb"},
		{"https exact", "pub", pubRedirect2, pubRedirect2},
		{"single registered may be omitted", "pub1", "", pubRedirect},
		{"registered query kept", "q", "https://app.example.com/cb?tenant=7", "https://app.example.com/cb"},
		{"private-use scheme", "native", "com.example.app:/oauth", "com.example.app:/oauth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier()
			req := authzQuery(tt.client, tt.redirect, v)
			req.Set("state", "st-"+tt.client+" &=/é%") // passed through unchanged
			resp := e.get("/authorize?" + req.Encode())
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("got %d, want 302 (%.300s)", resp.StatusCode, peek(resp))
			}
			u := location(t, resp)
			q := u.Query()
			got := u.Scheme + "://" + u.Host + u.Path
			if u.Opaque != "" {
				got = u.Scheme + ":" + u.Opaque
			}
			if u.Host == "" && u.Opaque == "" {
				got = u.Scheme + ":" + u.Path
			}
			if got != tt.want || q.Get("code") == "" || q.Get("iss") != testIssuer || q.Get("state") != "st-"+tt.client+" &=/é%" {
				t.Errorf("got (%s, code %q, iss %q, state %q), want (%s, a code, %s, st-%s &=/é%%)", got, q.Get("code"), q.Get("iss"), q.Get("state"), tt.want, testIssuer, tt.client)
			}
			if tt.client == "q" && q.Get("tenant") != "7" {
				t.Errorf("registered query lost: %s", u)
			}
			// The code redeems with the redirect URI actually used.
			resp = e.postForm("/token", tokenReq(tt.client, q.Get("code"), v, tt.redirect))
			if resp.StatusCode != 200 {
				t.Errorf("token: got %d (%s), want 200", resp.StatusCode, peek(resp))
			}
		})
	}
}

func TestAuthorizePOSTAndMethods(t *testing.T) {
	e := newEnv(t)
	v := newVerifier()
	resp := e.postForm("/authorize", authzQuery("pub", pubRedirect, v))
	if resp.StatusCode != http.StatusFound || location(t, resp).Query().Get("code") == "" {
		t.Errorf("POST /authorize: got %d, want 302 with a code", resp.StatusCode)
	}
	resp = e.postRaw("/authorize", "application/json", `{"client_id":"pub"}`, "Accept", "application/json")
	if code, status := oauthError(t, resp); status != http.StatusUnsupportedMediaType || resp.Header.Get("Location") != "" {
		t.Errorf("JSON POST /authorize: got (%q, %d), want (invalid_request, 415) and no redirect", code, status)
	}
	r := e.req(http.MethodPut, "/authorize", nil)
	resp = e.serve(r)
	if code, status := oauthError(t, resp); status != 405 || resp.Header.Get("Allow") != "GET, POST" {
		t.Errorf("PUT /authorize: got (%q, %d, Allow %q), want (405, GET, POST)", code, status, resp.Header.Get("Allow"))
	}
}

// loginFlow drives a browser from /authorize to the consent page through the
// built-in login, returning the consent page's form fields.
func loginFlow(t *testing.T, e *env, b *browser, q url.Values) (consent url.Values, page *http.Response) {
	t.Helper()
	resp := b.get(e.issuer + "/authorize?" + q.Encode())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: got %d, want 302 (%.300s)", resp.StatusCode, peek(resp))
	}
	next := location(t, resp)
	if next.Path != "/consent" || next.Query().Get("req") == "" {
		t.Fatalf("authorize redirected to %s, want /consent?req=…", next)
	}
	resp = b.get(e.absolute(next))
	if resp.StatusCode == http.StatusOK {
		return hidden(t, resp), resp // already signed in
	}
	login := location(t, resp)
	if resp.StatusCode != http.StatusFound || login.Path != "/login" || login.Query().Get("req") != next.Query().Get("req") {
		t.Fatalf("consent without session: got (%d, %s), want 302 to /login?req=%s", resp.StatusCode, login, next.Query().Get("req"))
	}
	resp = b.get(e.absolute(login))
	if resp.StatusCode != 200 {
		t.Fatalf("login page: %d", resp.StatusCode)
	}
	checkPageHeaders(t, resp)
	form := hidden(t, resp)
	form.Set("username", "alice")
	form.Set("password", testPassword)
	resp = b.post(e.issuer+"/login", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: got %d, want 303 (%.300s)", resp.StatusCode, peek(resp))
	}
	resp = b.get(e.absolute(location(t, resp)))
	if resp.StatusCode != 200 {
		t.Fatalf("consent page: got %d (%.300s)", resp.StatusCode, peek(resp))
	}
	return hidden(t, resp), resp
}

func TestAuthorizeLoginAndConsent(t *testing.T) {
	e := newEnv(t, withUsers(t), func(c *mcpauth.Config) {
		c.ConsentUI = mcpauth.ConsentUI{AppName: "Notes MCP", PrivacyURL: "https://notes.example.com/privacy", TermsURL: "https://notes.example.com/terms"}
	})
	b := e.browser()
	v := newVerifier()
	q := authzQuery("pub", "http://127.0.0.1:54321/cb", v)
	q.Set("scope", "read write")
	form, page := loginFlow(t, e, b, q)

	t.Run("session cookie", func(t *testing.T) {
		cookies := b.jar.Cookies(mustURL(e.issuer))
		if len(cookies) != 1 || cookies[0].Name != "mcpauth_session" {
			t.Fatalf("cookies %v, want one mcpauth_session", cookies)
		}
	})
	t.Run("consent page", func(t *testing.T) {
		checkPageHeaders(t, page)
		if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:54321") {
			t.Errorf("CSP %q does not allow the form to end at the client", csp)
		}
		body := peek(page)
		for _, want := range []string{"Pub App", "127.0.0.1:54321", "read", "Read your notes", "write", "Change your notes", resourceA,
			"Notes MCP", "https://notes.example.com/privacy", "https://notes.example.com/terms", `value="approve"`, `value="deny"`, "alice"} {
			if !strings.Contains(body, want) {
				t.Errorf("consent page lacks %q", want)
			}
		}
	})
	t.Run("CSRF", func(t *testing.T) {
		for name, csrf := range map[string]string{"missing": "", "wrong": "AAAA", "garbage": "%%%", "login token": loginCSRF(t, e, form.Get("req"))} {
			f := url.Values{"req": {form.Get("req")}, "decision": {"approve"}}
			if csrf != "" {
				f.Set("csrf", csrf)
			}
			resp := b.post(e.issuer+"/consent", f)
			if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
				t.Errorf("%s CSRF: got (%d, Location %q), want 400 and no redirect", name, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		// A form of another browser's session is refused too: the token is
		// bound to the pending request and the signed-in user.
		other := url.Values{"req": {form.Get("req")}, "csrf": {form.Get("csrf")}, "decision": {"approve"}}
		resp := e.browser().post(e.issuer+"/consent", other)
		if resp.StatusCode != http.StatusFound || location(t, resp).Path != "/login" {
			t.Errorf("consent POST without session: got (%d, %s), want 302 to /login", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("bad decision", func(t *testing.T) {
		f := url.Values{"req": {form.Get("req")}, "csrf": {form.Get("csrf")}, "decision": {"maybe"}}
		if resp := b.post(e.issuer+"/consent", f); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
			t.Errorf("got (%d, %q), want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	var code string
	t.Run("approve", func(t *testing.T) {
		form.Set("decision", "approve")
		resp := b.post(e.issuer+"/consent", form)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("got %d, want 302 (%.300s)", resp.StatusCode, peek(resp))
		}
		u := location(t, resp)
		code = u.Query().Get("code")
		if got := u.Scheme + "://" + u.Host + u.Path; got != "http://127.0.0.1:54321/cb" || code == "" ||
			u.Query().Get("state") != "st-pub" || u.Query().Get("iss") != testIssuer {
			t.Errorf("got %s, want http://127.0.0.1:54321/cb with code, state st-pub, iss %s", u, testIssuer)
		}
	})
	t.Run("consent is single use", func(t *testing.T) {
		resp := b.post(e.issuer+"/consent", form)
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(peek(resp), "expired") {
			t.Errorf("second POST: got (%d, %q), want 400 expired page", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("code carries the user", func(t *testing.T) {
		resp := e.postForm("/token", tokenReq("pub", code, v, "http://127.0.0.1:54321/cb"))
		if resp.StatusCode != 200 {
			t.Fatalf("token: %d %s", resp.StatusCode, peek(resp))
		}
		_, claims := jwtParts(t, jsonBody(t, resp)["access_token"].(string))
		if claims["sub"] != "user-alice" || claims["scope"] != "read write" {
			t.Errorf("got (sub %v, scope %v), want (user-alice, read write)", claims["sub"], claims["scope"])
		}
	})
	t.Run("second authorization skips login", func(t *testing.T) {
		q2 := authzQuery("pub", pubRedirect, newVerifier())
		resp := b.get(e.issuer + "/authorize?" + q2.Encode())
		resp = b.get(e.absolute(location(t, resp)))
		if resp.StatusCode != 200 || !strings.Contains(peek(resp), `value="approve"`) {
			t.Fatalf("got %d, want the consent page directly", resp.StatusCode)
		}
		f := hidden(t, resp)
		f.Set("decision", "deny")
		resp = b.post(e.issuer+"/consent", f)
		u := location(t, resp)
		if q := u.Query(); resp.StatusCode != http.StatusFound || q.Get("error") != "access_denied" || q.Get("state") != "st-pub" ||
			q.Get("iss") != testIssuer || q.Get("code") != "" {
			t.Errorf("deny: got (%d, %s), want 302 with access_denied, state, iss and no code", resp.StatusCode, u)
		}
	})
	t.Run("tampered cookie is ignored", func(t *testing.T) {
		nb := e.browser()
		for _, c := range b.jar.Cookies(mustURL(e.issuer)) {
			c.Value = strings.Replace(c.Value, ".", "x.", 1)
			nb.jar.SetCookies(mustURL(e.issuer), []*http.Cookie{c})
		}
		resp := nb.get(e.issuer + "/authorize?" + authzQuery("pub", pubRedirect, newVerifier()).Encode())
		resp = nb.get(e.absolute(location(t, resp)))
		if resp.StatusCode != http.StatusFound || location(t, resp).Path != "/login" {
			t.Errorf("got %d, want 302 to /login", resp.StatusCode)
		}
	})
}

// loginCSRF returns the login form's CSRF token for a pending request.
func loginCSRF(t *testing.T, e *env, req string) string {
	t.Helper()
	resp := e.browser().get(e.issuer + "/login?req=" + url.QueryEscape(req))
	return hidden(t, resp).Get("csrf")
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestAuthorizeLoginFailures(t *testing.T) {
	e := newEnv(t, withUsers(t))
	b := e.browser()
	resp := b.get(e.issuer + "/authorize?" + authzQuery("pub", pubRedirect, newVerifier()).Encode())
	req := location(t, resp).Query().Get("req")
	resp = b.get(e.issuer + "/login?req=" + url.QueryEscape(req))
	form := hidden(t, resp)
	tests := []struct {
		name, user, password, csrf string
		status                     int
		page                       string
	}{
		{"wrong password", "alice", "wrong", form.Get("csrf"), 401, "Incorrect username or password"},
		{"unknown user", "mallory", testPassword, form.Get("csrf"), 401, "Incorrect username or password"},
		{"empty password", "alice", "", form.Get("csrf"), 401, "Incorrect username or password"},
		{"missing CSRF", "alice", testPassword, "", 400, "expired"},
		{"forged CSRF", "alice", testPassword, "Zm9yZ2Vk", 400, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := url.Values{"req": {req}, "username": {tt.user}, "password": {tt.password}}
			if tt.csrf != "" {
				f.Set("csrf", tt.csrf)
			}
			resp := b.post(e.issuer+"/login", f)
			if resp.StatusCode != tt.status || !strings.Contains(peek(resp), tt.page) {
				t.Errorf("got %d, want %d with %q", resp.StatusCode, tt.status, tt.page)
			}
			if c := resp.Header.Get("Set-Cookie"); c != "" {
				t.Errorf("failed login set a cookie: %s", c)
			}
			checkPageHeaders(t, resp)
		})
	}
	t.Run("cookie attributes", func(t *testing.T) {
		resp := b.post(e.issuer+"/login", url.Values{"req": {req}, "csrf": {form.Get("csrf")}, "username": {"alice"}, "password": {testPassword}})
		var c *http.Cookie
		for _, ck := range resp.Cookies() {
			switch {
			case ck.Name == "mcpauth_session":
				c = ck
			case ck.Name == "mcpauth_login" && ck.MaxAge < 0: // the login nonce is cleared
			default:
				t.Fatalf("unexpected cookie %+v", ck)
			}
		}
		if c == nil {
			t.Fatal("no session cookie")
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
			t.Errorf("cookie %+v, want HttpOnly, SameSite=Lax, Path=/ (not Secure on an http issuer)", c)
		}
	})
	t.Run("unknown pending request", func(t *testing.T) {
		for _, u := range []string{"/login?req=nope", "/login", "/consent?req=nope", "/consent?req=" + strings.Repeat("x", 200)} {
			resp := b.get(e.issuer + u)
			if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
				t.Errorf("GET %s: got %d, want 400 page", u, resp.StatusCode)
			}
		}
	})
}

func TestAuthorizePendingExpires(t *testing.T) {
	e := newEnv(t, withUsers(t), func(c *mcpauth.Config) { c.CodeTTL = time.Minute })
	b := e.browser()
	form, _ := loginFlow(t, e, b, authzQuery("pub", pubRedirect, newVerifier()))
	e.clock.Advance(61 * time.Second)
	form.Set("decision", "approve")
	resp := b.post(e.issuer+"/consent", form)
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(peek(resp), "expired") {
		t.Errorf("got (%d, %q), want 400 expired page and no redirect", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = b.get(e.issuer + "/consent?req=" + url.QueryEscape(form.Get("req")))
	if resp.StatusCode != 400 {
		t.Errorf("GET expired consent: got %d, want 400", resp.StatusCode)
	}
}

// TestAuthorizeAuthenticator: the host's own sign-in through an Authenticator.
func TestAuthorizeAuthenticator(t *testing.T) {
	var returnTo string
	auth := hostSignIn{
		current: func(r *http.Request) (mcpauth.User, bool, error) {
			if c, err := r.Cookie("host_session"); err == nil && c.Value == "bob" {
				return mcpauth.User{Subject: "user-bob", Name: "Bob"}, true, nil
			}
			return mcpauth.User{}, false, nil
		},
		loginURL: func(rt string) string {
			returnTo = rt
			return "https://host.example.com/signin?next=" + url.QueryEscape(rt)
		},
	}
	e := newEnv(t, func(c *mcpauth.Config) { c.Authenticator = auth })
	b := e.browser()
	resp := b.get(e.issuer + "/authorize?" + authzQuery("pub", pubRedirect, newVerifier()).Encode())
	consent := location(t, resp)
	resp = b.get(e.absolute(consent))
	if u := location(t, resp); u.Host != "host.example.com" || returnTo != e.absolute(consent) {
		t.Fatalf("got (%s, returnTo %q), want the host sign-in returning to %s", u, returnTo, e.absolute(consent))
	}
	if resp = e.get("/login?req=x"); resp.StatusCode != 404 {
		t.Errorf("built-in login page with an Authenticator: got %d, want 404", resp.StatusCode)
	}
	b.jar.SetCookies(mustURL(e.issuer), []*http.Cookie{{Name: "host_session", Value: "bob"}})
	resp = b.get(e.absolute(consent))
	if resp.StatusCode != 200 || !strings.Contains(peek(resp), "Bob") {
		t.Fatalf("consent with host session: got %d", resp.StatusCode)
	}
	f := hidden(t, resp)
	f.Set("decision", "approve")
	if resp = b.post(e.issuer+"/consent", f); location(t, resp).Query().Get("code") == "" {
		t.Errorf("approve: no code in %s", resp.Header.Get("Location"))
	}
}

// TestLoginCSRF: a login form posted from another browser (another site
// replaying the attacker's own form) is refused: the token is bound to the
// browser's nonce cookie.
func TestLoginCSRF(t *testing.T) {
	_, ts := e2eServer(t, func(c *mcpauth.Config) {
		c.StaticClients = []store.Client{{ID: "app", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{"http://127.0.0.1:9996/cb"}}}}
	})
	authURL := ts.URL + "/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"app"},
		"code_challenge": {mcpauth.S256Challenge("verifier-0123456789012345678901234567890123")}, "code_challenge_method": {"S256"}}.Encode()
	attacker := newE2EBrowser(t, "http://127.0.0.1:9996/cb")
	form := attacker.get(authURL)
	victim := newE2EBrowser(t, "http://127.0.0.1:9996/cb")
	page := victim.submit(form, ts.URL+"/login", url.Values{"username": {"alice"}, "password": {"correct horse"}})
	if strings.Contains(page, "Authorize") || !strings.Contains(page, "expired") {
		t.Fatalf("a login form from another browser was accepted: %.200s", page)
	}
	if page := attacker.submit(form, ts.URL+"/login", url.Values{"username": {"alice"}, "password": {"correct horse"}}); !strings.Contains(page, "decision") {
		t.Fatalf("the browser that loaded the form cannot sign in: %.200s", page)
	}
}
