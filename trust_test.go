package mcpauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

// registerPublic registers a public client over HTTP and returns its client_id.
func (e *env) registerPublic(t *testing.T, meta map[string]any) string {
	t.Helper()
	meta["token_endpoint_auth_method"] = "none"
	resp := e.postJSON("/register", meta)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.StatusCode, peek(resp))
	}
	return jsonBody(t, resp)["client_id"].(string)
}

// TestAuthorizeStateSizeLimit (issue 9.9): a state longer than
// Config.MaxStateLength is invalid_request on the error page, never
// reflected in a Location; a 900 KB state no longer comes back.
func TestAuthorizeStateSizeLimit(t *testing.T) {
	for _, tt := range []struct {
		name  string
		limit int // Config.MaxStateLength; 0 = default 2048
		state string
		ok    bool
	}{
		{"default limit exactly", 0, strings.Repeat("s", 2048), true},
		{"default limit + 1", 0, strings.Repeat("s", 2049), false},
		{"900 KB", 0, strings.Repeat("S", 900<<10), false},
		{"configured 16", 16, strings.Repeat("s", 16), true},
		{"configured 16 + 1", 16, strings.Repeat("s", 17), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *mcpauth.Config) { c.MaxStateLength = tt.limit })
			q := authzQuery("pub", pubRedirect, newVerifier())
			q.Set("state", tt.state)
			for _, accept := range []string{"text/html", "application/json"} {
				resp := e.get("/authorize?"+q.Encode(), "Accept", accept)
				loc := resp.Header.Get("Location")
				if tt.ok {
					if resp.StatusCode != http.StatusFound || location(t, resp).Query().Get("state") != tt.state {
						t.Fatalf("%s: got %d, want 302 echoing the state", accept, resp.StatusCode)
					}
					continue
				}
				body := peek(resp)
				if resp.StatusCode != http.StatusBadRequest || loc != "" || !strings.Contains(body, "invalid_request") || !strings.Contains(body, "state") {
					t.Fatalf("%s: got (%d, Location %.80q, %.200s), want 400 invalid_request about state, no redirect", accept, resp.StatusCode, loc, body)
				}
				if strings.Contains(body, tt.state[:17]) || len(body) > 8<<10 {
					t.Errorf("%s: the state is reflected in the %d-byte answer", accept, len(body))
				}
			}
		})
	}
	if _, err := mcpauth.NewServer(mcpauth.Config{Issuer: testIssuer, Scopes: []string{"a"}, Authenticator: mcpauthtest.AutoApprove("x"), MaxStateLength: -1}); err == nil {
		t.Error("NewServer accepted MaxStateLength -1")
	}
}

// TestAuthorizeNoErrorRedirectBeforeTrust (issue 10.3, RFC 9700 §4.11.2):
// a dynamically registered client's redirect URI gets no error redirects
// before the user has signed in and answered; the error page names its host.
// Static clients keep RFC 6749 §4.1.2.1 redirects; after consent a denial
// goes to the client as usual.
func TestAuthorizeNoErrorRedirectBeforeTrust(t *testing.T) {
	e := newEnv(t, withUsers(t))
	phish := "https://phish.example/login"
	dcr := e.registerPublic(t, map[string]any{"redirect_uris": []string{phish}, "client_name": "Totally Legit"})
	v := newVerifier()
	for _, tt := range []struct {
		name string
		edit url.Values
		want string
	}{
		{"response_type token", url.Values{"response_type": {"token"}}, "unsupported_response_type"},
		{"no PKCE", url.Values{"code_challenge": {""}}, "invalid_request"},
		{"plain PKCE", url.Values{"code_challenge_method": {"plain"}}, "invalid_request"},
		{"unsupported scope", url.Values{"scope": {"admin"}}, "invalid_scope"},
		{"foreign resource", url.Values{"resource": {"https://evil.example/mcp"}}, "invalid_target"},
		{"duplicate scope", url.Values{"scope": {"read", "write"}}, "invalid_request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := merge(authzQuery(dcr, phish, v), tt.edit)
			resp := e.get("/authorize?"+q.Encode(), "Accept", "text/html")
			body := peek(resp)
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Fatalf("error redirected to %s for a client anyone could register", loc)
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tt.want) || !strings.Contains(body, `<strong class="host">phish.example</strong>`) {
				t.Errorf("got (%d, %.600s), want a 400 page with %s naming phish.example", resp.StatusCode, body, tt.want)
			}
			checkPageHeaders(t, resp)
			resp = e.get("/authorize?"+q.Encode(), "Accept", "application/json")
			if code, status := oauthError(t, resp); code != tt.want || status != 400 || resp.Header.Get("Location") != "" {
				t.Errorf("JSON: got (%q, %d, Location %q), want (%s, 400) and no redirect", code, status, resp.Header.Get("Location"), tt.want)
			}
			// The same error of an operator-configured client is redirected.
			resp = e.get("/authorize?" + merge(authzQuery("pub", pubRedirect2, v), tt.edit).Encode())
			if resp.StatusCode != http.StatusFound || location(t, resp).Query().Get("error") != tt.want {
				t.Errorf("static client: got %d, want a 302 with error=%s", resp.StatusCode, tt.want)
			}
		})
	}
	t.Run("mixed-script redirect host", func(t *testing.T) {
		spoof := e.registerPublic(t, map[string]any{"redirect_uris": []string{"https://\u0430pple.com/cb"}})
		resp := e.get("/authorize?"+merge(authzQuery(spoof, "https://\u0430pple.com/cb", v), url.Values{"response_type": {"token"}}).Encode(), "Accept", "text/html")
		body := peek(resp)
		if resp.Header.Get("Location") != "" || !strings.Contains(body, "xn--pple-43d.com") || strings.Contains(body, "\u0430pple") || !strings.Contains(body, "mixes alphabets") {
			t.Errorf("got %.600s, want the punycode host with a mixed-script warning", body)
		}
	})
	t.Run("after sign-in and consent the answer is redirected", func(t *testing.T) {
		b := e.browser()
		q := authzQuery(dcr, phish, v)
		form, _ := loginFlow(t, e, b, q)
		form.Set("decision", "deny")
		resp := b.post(e.issuer+"/consent", form)
		u := location(t, resp)
		if qq := u.Query(); resp.StatusCode != http.StatusFound || u.Host != "phish.example" || qq.Get("error") != "access_denied" ||
			qq.Get("state") != q.Get("state") || qq.Get("iss") != testIssuer {
			t.Errorf("deny: got (%d, %s), want 302 to phish.example with access_denied, state and iss", resp.StatusCode, u)
		}
		form, _ = loginFlow(t, e, b, q)
		form.Set("decision", "approve")
		resp = b.post(e.issuer+"/consent", form)
		if u := location(t, resp); u.Host != "phish.example" || u.Query().Get("code") == "" {
			t.Errorf("approve: got %s, want a code at phish.example", u)
		}
	})
}

// TestAuthorizeLoopbackRedirectValidated (issue 10.4, RFC 8252 §7.3): with
// http://127.0.0.1/cb registered, only the port of a requested loopback
// redirect may differ; user info, fragments and invalid ports are refused
// as for registration.
func TestAuthorizeLoopbackRedirectValidated(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		redirect string
		ok       bool
	}{
		{"http://127.0.0.1:5555/cb", true},
		{"http://127.0.0.1:65535/cb", true},
		{"http://127.0.0.1:1/cb", true},
		{"http://evil@127.0.0.1:5555/cb#frag", false},
		{"http://evil@127.0.0.1:5555/cb", false},
		{"http://evil:pw@127.0.0.1/cb", false},
		{"http://127.0.0.1:5555/cb#frag", false},
		{"http://127.0.0.1:5555/cb#", false},
		{"http://127.0.0.1:99999/cb", false},
		{"http://127.0.0.1:65536/cb", false},
		{"http://127.0.0.1:0/cb", false},
		{"http://127.0.0.1:05555/cb", false},
		{"http://127.0.0.1:/cb", false},
	} {
		t.Run(tt.redirect, func(t *testing.T) {
			resp := e.get("/authorize?"+authzQuery("pub", tt.redirect, newVerifier()).Encode(), "Accept", "application/json")
			if tt.ok {
				if resp.StatusCode != http.StatusFound || location(t, resp).Query().Get("code") == "" {
					t.Errorf("got %d, want 302 with a code", resp.StatusCode)
				}
				return
			}
			if code, status := oauthError(t, resp); code != "invalid_request" || status != 400 || resp.Header.Get("Location") != "" {
				t.Errorf("got (%q, %d, Location %q), want (invalid_request, 400) and no redirect", code, status, resp.Header.Get("Location"))
			}
		})
	}
	for _, bad := range []string{"http://127.0.0.1:99999/cb", "https://app.example.com:0/cb", "http://127.0.0.1:/cb"} {
		resp := e.postJSON("/register", map[string]any{"redirect_uris": []string{bad}, "token_endpoint_auth_method": "none"})
		if code, status := oauthError(t, resp); code != "invalid_redirect_uri" || status != 400 {
			t.Errorf("register %s: got (%q, %d), want invalid_redirect_uri", bad, code, status)
		}
	}
}

// TestTokenRedirectURIMustRepeat (issue 10.5, OAuth 2.1 §4.1.3): a
// redirect_uri sent with the authorization request must be repeated exactly
// at /token; omitted there, it may be omitted here. Every store keeps the
// difference.
func TestTokenRedirectURIMustRepeat(t *testing.T) {
	for kind, setup := range storeKinds(t) {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, setup(t))
			for _, tt := range []struct {
				name            string
				authorize, send string // "" = omitted
				want            string // "" = 200
			}{
				{"sent then omitted", pubRedirect, "", "invalid_grant"},
				{"sent then repeated", pubRedirect, pubRedirect, ""},
				{"sent then another port", "http://127.0.0.1:7000/cb", "http://127.0.0.1:7001/cb", "invalid_grant"},
				{"loopback port sent then omitted", "http://127.0.0.1:7000/cb", "", "invalid_grant"},
				{"loopback port repeated", "http://127.0.0.1:7000/cb", "http://127.0.0.1:7000/cb", ""},
				{"omitted then omitted", "", "", ""},
				{"omitted then the registered one", "", pubRedirect, ""},
				{"omitted then another", "", "http://127.0.0.1:7000/cb", "invalid_grant"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					c, v := e.code("pub1", tt.authorize, nil)
					resp := e.postForm("/token", tokenReq("pub1", c, v, tt.send))
					if tt.want == "" {
						if resp.StatusCode != http.StatusOK {
							t.Errorf("got %d %s, want 200", resp.StatusCode, peek(resp))
						}
						return
					}
					if code, status := oauthError(t, resp); code != tt.want || status != 400 || !strings.Contains(errDesc(t, resp), "redirect_uri") {
						t.Errorf("got (%q, %d, %q), want (%s, 400) about redirect_uri", code, status, errDesc(t, resp), tt.want)
					}
				})
			}
		})
	}
}

// TestConsentPageAntiSpoofing (issue 10.11): the consent page marks clients
// the operator did not configure as unverified, shows hosts in punycode with
// a mixed-script warning, does not autofocus Approve and offers a working
// "Not you? Sign out"; registration refuses control and bidi characters in
// every field the pages show.
func TestConsentPageAntiSpoofing(t *testing.T) {
	e := newEnv(t, withUsers(t))
	b := e.browser()

	t.Run("static client", func(t *testing.T) {
		_, page := loginFlow(t, e, b, authzQuery("pub", pubRedirect2, newVerifier()))
		body := peek(page)
		for _, bad := range []string{"autofocus", "Unverified", "unverified"} {
			if strings.Contains(body, bad) {
				t.Errorf("consent page of a configured client contains %q", bad)
			}
		}
		if !strings.Contains(body, `<strong class="host">app.example.com</strong>`) || !strings.Contains(body, "Not you?") || !strings.Contains(body, `action="/logout"`) {
			t.Errorf("consent page lacks the redirect host or sign-out: %.1500s", body)
		}
	})
	t.Run("registered homograph client", func(t *testing.T) {
		id := e.registerPublic(t, map[string]any{"redirect_uris": []string{"https://\u0430pple.com/cb"}, "client_name": "Apple",
			"client_uri": "https://\u0430pple.com/"})
		_, page := loginFlow(t, e, b, authzQuery(id, "https://\u0430pple.com/cb", newVerifier()))
		body := peek(page)
		for _, want := range []string{"Unverified application", `<strong class="host">xn--pple-43d.com</strong>`, `id="redirect-mixed"`, ">xn--pple-43d.com</a>"} {
			if !strings.Contains(body, want) {
				t.Errorf("consent page lacks %q: %.2000s", want, body)
			}
		}
		if strings.Contains(body, ">\u0430pple.com") || strings.Contains(body, "autofocus") {
			t.Errorf("consent page shows the Unicode host or autofocuses: %.2000s", body)
		}
	})
	t.Run("resource host in punycode, bidi resource refused", func(t *testing.T) {
		open := newEnv(t, withUsers(t), func(c *mcpauth.Config) { c.Resources = nil })
		q := authzQuery("pub", pubRedirect, newVerifier())
		q.Set("resource", "https://m\u0441p.example.com/mcp") // Cyrillic с
		_, page := loginFlow(t, open, open.browser(), q)
		if body := peek(page); !strings.Contains(body, "https://xn--mp-omc.example.com/mcp") || strings.Contains(body, "m\u0441p") {
			t.Errorf("consent page does not show the resource host in punycode: %.2000s", body)
		}
		q.Set("resource", "https://mcp.example.com/\u202Emcp")
		resp := open.get("/authorize?" + q.Encode())
		if u := location(t, resp); u.Query().Get("error") != "invalid_target" {
			t.Errorf("bidi resource: got %s, want invalid_target", u)
		}
	})
	t.Run("login page marks unverified", func(t *testing.T) {
		id := e.registerPublic(t, map[string]any{"redirect_uris": []string{pubRedirect}, "client_name": "Some App"})
		nb := e.browser()
		resp := nb.get(e.issuer + "/authorize?" + authzQuery(id, pubRedirect, newVerifier()).Encode())
		resp = nb.get(e.absolute(location(t, resp)))
		resp = nb.get(e.absolute(location(t, resp)))
		if body := peek(resp); !strings.Contains(body, "Some App") || !strings.Contains(body, "unverified application") {
			t.Errorf("login page: %.800s", body)
		}
	})
	t.Run("a stored name with a bidi override is not shown", func(t *testing.T) {
		// As a client registered before names were checked would be.
		if err := e.clients.SetClient(t.Context(), &store.Client{
			ID:             "legacy",
			ClientMetadata: store.ClientMetadata{Name: "Evil\u202Eppa", RedirectURIs: []string{pubRedirect}, TokenEndpointAuthMethod: "none", GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}},
		}); err != nil {
			t.Fatal(err)
		}
		_, page := loginFlow(t, e, e.browser(), authzQuery("legacy", pubRedirect, newVerifier()))
		if body := peek(page); strings.Contains(body, "\u202E") || !strings.Contains(body, "an application") {
			t.Errorf("consent page shows the unsafe name: %.800s", body)
		}
	})
	t.Run("registration refuses control and bidi characters", func(t *testing.T) {
		for field, val := range map[string]any{
			"client_name":      "Evil\u202Eppa",
			"software_id":      "x\u2066y",
			"software_version": "1\u200B",
			"client_uri":       "https://app.example.com/\u202E",
			"logo_uri":         "https://app.example.com/\u2067.png",
			"tos_uri":          "https://app.example.com/\u00ad",
			"policy_uri":       "https://app.example.com/\ufeff",
			"contacts":         []string{"a\u202Db@example.com"},
		} {
			meta := map[string]any{"redirect_uris": []string{pubRedirect}, "token_endpoint_auth_method": "none", field: val}
			resp := e.postJSON("/register", meta)
			if code, status := oauthError(t, resp); code != "invalid_client_metadata" || status != 400 {
				t.Errorf("%s %q: got (%q, %d), want invalid_client_metadata", field, val, code, status)
			}
		}
		resp := e.postJSON("/register", map[string]any{"redirect_uris": []string{"https://app.example.com/\u202Ecb"}, "token_endpoint_auth_method": "none"})
		if code, _ := oauthError(t, resp); code != "invalid_redirect_uri" {
			t.Errorf("bidi redirect URI: got %q, want invalid_redirect_uri", code)
		}
	})
	t.Run("sign out", func(t *testing.T) {
		nb := e.browser()
		form, _ := loginFlow(t, e, nb, authzQuery("pub", pubRedirect, newVerifier()))
		// Another browser's token, or none, does not sign this one out.
		for name, csrf := range map[string]string{"missing": "", "forged": "Zm9yZ2Vk"} {
			f := url.Values{"req": {form.Get("req")}}
			if csrf != "" {
				f.Set("csrf", csrf)
			}
			resp := nb.post(e.issuer+"/logout", f)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Set-Cookie") != "" {
				t.Errorf("%s CSRF: got (%d, Set-Cookie %q), want 400 and no cookie change", name, resp.StatusCode, resp.Header.Get("Set-Cookie"))
			}
		}
		if resp := nb.get(e.issuer + "/logout?req=" + url.QueryEscape(form.Get("req"))); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET /logout: %d, want 405", resp.StatusCode)
		}
		resp := nb.post(e.issuer+"/logout", url.Values{"req": {form.Get("req")}, "csrf": {form.Get("csrf")}})
		u := location(t, resp)
		if resp.StatusCode != http.StatusSeeOther || u.Path != "/login" || u.Query().Get("req") != form.Get("req") {
			t.Fatalf("sign out: got (%d, %s), want 303 to /login for the same request", resp.StatusCode, u)
		}
		cleared := false
		for _, c := range resp.Cookies() {
			cleared = cleared || (c.Name == "mcpauth_session" && c.MaxAge < 0)
		}
		if !cleared {
			t.Errorf("sign out did not clear the session cookie: %v", resp.Cookies())
		}
		// The pending request now needs a sign-in again, and still works.
		resp = nb.get(e.issuer + "/consent?req=" + url.QueryEscape(form.Get("req")))
		if resp.StatusCode != http.StatusFound || location(t, resp).Path != "/login" {
			t.Fatalf("consent after sign out: got %d, want 302 to /login", resp.StatusCode)
		}
		resp = nb.get(e.absolute(location(t, resp)))
		login := hidden(t, resp)
		login.Set("username", "alice")
		login.Set("password", testPassword)
		resp = nb.post(e.issuer+"/login", login)
		resp = nb.get(e.absolute(location(t, resp)))
		f := hidden(t, resp)
		f.Set("decision", "approve")
		if resp = nb.post(e.issuer+"/consent", f); location(t, resp).Query().Get("code") == "" {
			t.Errorf("approve after signing in again: %s", resp.Header.Get("Location"))
		}
	})
}
