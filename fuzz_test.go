package mcpauth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mcpauth/mcpauth/internal/browser"
	"github.com/mcpauth/mcpauth/internal/display"
)

// Fuzz targets for every parser of untrusted input in the authorization
// server. Run one with: go test -fuzz FuzzReadParams -fuzztime 30s .

func FuzzReadParams(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "grant_type=authorization_code&code=x")
	f.Add("application/json", `{"token":"a","n":1,"b":true,"arr":["x","y"]}`)
	f.Add("application/json", `[1,2]`)
	f.Add("text/plain", "x")
	f.Add("application/x-www-form-urlencoded", "a=%zz&a=1&a=2")
	f.Add("application/x-www-form-urlencoded", "client_id=%FF&state=%00")
	f.Add("application/json", "{\"client_id\":\"a\\u0000\",\"x\":\"\xff\"}")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		v, err := readParams(httptest.NewRecorder(), r, true)
		if err == nil && v == nil {
			t.Fatal("nil values without an error")
		}
		if err == nil {
			for _, k := range singleValued {
				if len(v[k]) > 1 {
					t.Fatalf("repeated %s accepted", k)
				}
			}
			// Nothing that could upset a store gets through (issue 9.8).
			for k, vs := range v {
				for _, x := range append(vs, k) {
					if !utf8.ValidString(x) || strings.ContainsRune(x, 0) {
						t.Fatalf("parameter %q = %q accepted", k, vs)
					}
				}
			}
		}
	})
}

func FuzzRedirectURI(f *testing.F) {
	for _, s := range []string{"https://a.example/cb", "http://127.0.0.1:8/cb", "http://localhost/cb?x=1", "com.example.app:/cb",
		"javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "http://evil.example/cb", "https://a.example/cb#f", "HTTP://[::1]:5/x"} {
		f.Add(s, "http://127.0.0.1:9/cb")
	}
	f.Add("http://127.0.0.1/cb", "http://evil@127.0.0.1:5555/cb#frag")
	f.Add("http://127.0.0.1/cb", "http://127.0.0.1:99999/cb")
	f.Add("http://127.0.0.1/cb", "http://127.0.0.1:0/cb")
	f.Fuzz(func(t *testing.T, registered, requested string) {
		if validRedirectURI(registered) != nil {
			return
		}
		u, _ := url.Parse(registered)
		switch strings.ToLower(u.Scheme) {
		case "javascript", "data", "file", "vbscript":
			t.Fatalf("dangerous scheme accepted: %q", registered)
		}
		if matchRedirectURI([]string{registered}, requested) && requested != registered {
			ru, err := url.Parse(requested)
			if err != nil || ru.Scheme != "http" || !isLoopbackHost(ru.Hostname()) || ru.Hostname() != u.Hostname() || ru.Path != u.Path {
				t.Fatalf("%q matched registered %q", requested, registered)
			}
			// RFC 8252 §7.3: only the port varies; the URI is as valid as a registered one.
			if err := validRedirectURI(requested); err != nil || ru.User != nil || strings.Contains(requested, "#") {
				t.Fatalf("%q matched registered %q although invalid: %v", requested, registered, err)
			}
		}
	})
}

func FuzzClientCredentials(f *testing.F) {
	f.Add("Basic Y2xpZW50OnNlY3JldA==", "client_id=client")
	f.Add("Basic !!!", "")
	f.Add("Bearer x", "client_id=a&client_secret=b")
	f.Add("basic "+"JTNBJTI1OiUyQg==", "")
	f.Fuzz(func(t *testing.T, header, form string) {
		r := httptest.NewRequest(http.MethodPost, "/token", nil)
		r.Header.Set("Authorization", header)
		params, err := url.ParseQuery(form)
		if err != nil {
			return
		}
		_, _, _, _ = clientCredentials(r, params)
	})
}

func FuzzRegistration(f *testing.F) {
	f.Add(`{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`)
	f.Add(`{"redirect_uris":["javascript:alert(1)"]}`)
	f.Add(`{"redirect_uris":"x"}`)
	f.Add(`{"redirect_uris":["http://127.0.0.1/cb"],"scope":"a  b","application_type":"native"}`)
	f.Add(`{"redirect_uris":["https://a.example/cb"],"client_name":"x\u202Ey","contacts":["\u0000"]}`)
	s := &Server{cfg: Config{Scopes: []string{"a", "b"}}, scopes: map[string]bool{"a": true, "b": true}}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/register", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		req, err := decodeRegistration(r)
		if err != nil {
			return
		}
		c, err := s.validateRegistration(req)
		if err != nil {
			return
		}
		for _, u := range c.RedirectURIs {
			if validRedirectURI(u) != nil {
				t.Fatalf("invalid redirect URI registered: %q", u)
			}
		}
		// Every field the pages may show is free of control and bidi
		// formatting characters (issue 10.11).
		for _, x := range append([]string{c.Name, c.ClientURI, c.LogoURI, c.TOSURI, c.PolicyURI, c.SoftwareID, c.SoftwareVersion, c.Scope},
			append(c.Contacts, c.RedirectURIs...)...) {
			if !display.Safe(x) {
				t.Fatalf("unsafe text registered: %q", x)
			}
		}
	})
}

func FuzzParseArgon2id(f *testing.F) {
	h, _ := HashPassword("pw")
	f.Add(h)
	f.Add("$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA")
	f.Add("$2a$10$abc")
	f.Fuzz(func(t *testing.T, phc string) {
		if h, err := browser.ParseHash(phc); err == nil && (h.Memory > 1<<21 || h.Time > 16) {
			t.Fatalf("parameters out of range accepted: %+v", h)
		}
	})
}
