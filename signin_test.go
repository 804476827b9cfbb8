package mcpauth_test

import (
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
)

// fakeProvider signs in at "/idp?next=<returnTo>" and knows the user of
// its cookie "idp_session".
type fakeProvider struct{ scopes []string }

func (p fakeProvider) Authenticate(r *http.Request) (mcpauth.User, bool, error) {
	c, err := r.Cookie("idp_session")
	if err != nil {
		return mcpauth.User{}, false, nil
	}
	return mcpauth.User{Subject: "https://idp.example#" + c.Value, Name: c.Value, AllowedScopes: p.scopes}, true, nil
}

func (p fakeProvider) SignIn(w http.ResponseWriter, r *http.Request, returnTo string) {
	http.Redirect(w, r, "/idp?next="+url.QueryEscape(returnTo), http.StatusFound)
}

func withProviders(passwords bool, providers ...mcpauth.SignInProvider) func(*mcpauth.Config) {
	return func(c *mcpauth.Config) {
		c.Authenticator = nil
		c.SignInProviders = providers
		if !passwords {
			c.Users = nil
		}
	}
}

func TestSignInProvidersConfig(t *testing.T) {
	p := fakeProvider{}
	for name, tc := range map[string][]mcpauth.SignInProvider{
		"no name":          {{Authenticator: p}},
		"long name":        {{Name: strings.Repeat("n", 65), Authenticator: p}},
		"no authenticator": {{Name: "IdP"}},
		"duplicate":        {{Name: "IdP", Authenticator: p}, {Name: "IdP", Authenticator: p}},
	} {
		_, err := mcpauth.NewServer(mcpauth.Config{Issuer: testIssuer, Scopes: []string{"read"}, SignInProviders: tc, Logger: discard})
		var ce *mcpauth.ConfigError
		if !errors.As(err, &ce) || ce.Field != "SignInProviders" {
			t.Errorf("%s: err = %v, want a ConfigError on SignInProviders", name, err)
		}
	}
	_, err := mcpauth.NewServer(mcpauth.Config{Issuer: testIssuer, Scopes: []string{"read"}, Logger: discard,
		SignInProviders: []mcpauth.SignInProvider{{Name: "IdP", Authenticator: p}}, Authenticator: p})
	if err == nil {
		t.Error("SignInProviders with Authenticator accepted")
	}
	srv, err := mcpauth.NewServer(mcpauth.Config{Issuer: testIssuer, Scopes: []string{"read"}, Logger: discard,
		SignInProviders: []mcpauth.SignInProvider{{Name: "IdP", Authenticator: p}}})
	if err != nil {
		t.Fatalf("providers without Users: %v", err)
	}
	srv.Close()
}

var continueRE = regexp.MustCompile(`<a class="button" href="([^"]+)">Continue with ([^<]+)</a>`)

// loginPage opens an authorization request and follows it to the login page.
func loginPage(t *testing.T, e *env, b *browser, scope string) (consentURL string, resp *http.Response) {
	t.Helper()
	q := merge(authzQuery("pub1", pubRedirect, newVerifier()), url.Values{"scope": {scope}})
	resp = b.get(e.issuer + "/authorize?" + q.Encode())
	consentURL = e.absolute(location(t, resp))
	resp = b.get(consentURL)
	return consentURL, b.get(e.absolute(location(t, resp)))
}

// TestSignInProviderButtons: the login page offers "Continue with <Name>"
// per provider, beside or instead of passwords, and each link starts that
// provider's sign-in back to the pending request's consent step.
func TestSignInProviderButtons(t *testing.T) {
	providers := []mcpauth.SignInProvider{{Name: "Acme SSO", Authenticator: fakeProvider{}}, {Name: "GitHub", Authenticator: fakeProvider{}}}
	for _, passwords := range []bool{true, false} {
		e := newEnv(t, withUsers(t), withProviders(passwords, providers...))
		b := e.browser()
		consentURL, page := loginPage(t, e, b, "read")
		body := peek(page)
		if page.StatusCode != http.StatusOK {
			t.Fatalf("login page: %d %s", page.StatusCode, body)
		}
		if got := strings.Contains(body, `name="password"`); got != passwords {
			t.Errorf("passwords=%v: password form shown = %v", passwords, got)
		}
		links := continueRE.FindAllStringSubmatch(body, -1)
		if len(links) != 2 || links[0][2] != "Acme SSO" || links[1][2] != "GitHub" {
			t.Fatalf("links = %q\n%s", links, body)
		}
		resp := b.get(e.issuer + html.UnescapeString(links[1][1]))
		if loc := location(t, resp); loc.Path != "/idp" || loc.Query().Get("next") != consentURL {
			t.Errorf("Continue with GitHub went to %s, want /idp?next=%s", loc, consentURL)
		}
		req := url.Values{"req": {hiddenReq(t, body)}}
		for _, bad := range []string{"2", "-1", "x", ""} {
			resp := b.get(e.issuer + "/login?" + req.Encode() + "&provider=" + bad)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(peek(resp), "unknown sign-in provider") {
				t.Errorf("provider=%q: %d %s", bad, resp.StatusCode, peek(resp))
			}
		}
		if !passwords {
			resp := b.post(e.issuer+"/login", url.Values{"req": req["req"], "username": {"alice"}, "password": {testPassword}})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(peek(resp), "password sign-in is turned off") {
				t.Errorf("password POST with passwords off: %d %s", resp.StatusCode, peek(resp))
			}
		}
	}
}

func hiddenReq(t *testing.T, body string) string {
	m := regexp.MustCompile(`name="req" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		// No password form: the request id is in the links.
		m = regexp.MustCompile(`req=([^&"]+)`).FindStringSubmatch(body)
	}
	if m == nil {
		t.Fatalf("no request id in %s", body)
	}
	v, _ := url.QueryUnescape(html.UnescapeString(m[1]))
	return v
}

// TestSignInProviderScopes: the provider's user consents, and the scopes it
// may be granted (User.AllowedScopes) bound what the client gets; a
// request left with none is access_denied.
func TestSignInProviderScopes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []string
		want    string // granted scope, "" → access_denied
	}{
		{"unrestricted", nil, "read write"},
		{"narrowed", []string{"read"}, "read"},
		{"none of them", []string{"admin"}, ""},
		{"refresh alone is not a grant", []string{"admin"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withProviders(false, mcpauth.SignInProvider{Name: "IdP", Authenticator: fakeProvider{scopes: tc.allowed}}))
			b := e.browser()
			u, _ := url.Parse(e.issuer)
			b.jar.SetCookies(u, []*http.Cookie{{Name: "idp_session", Value: "carol"}})
			verifier := newVerifier()
			scope := "read write"
			if tc.name == "refresh alone is not a grant" {
				scope = "read offline_access"
			}
			q := merge(authzQuery("pub1", pubRedirect, verifier), url.Values{"scope": {scope}})
			consent := b.get(e.absolute(location(t, b.get(e.issuer+"/authorize?"+q.Encode()))))
			if tc.want == "" {
				loc := location(t, consent)
				if loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-pub1" {
					t.Fatalf("got %s, want access_denied to the client", loc)
				}
				return
			}
			body := peek(consent)
			if consent.StatusCode != http.StatusOK || !strings.Contains(body, "carol") {
				t.Fatalf("consent: %d %s", consent.StatusCode, body)
			}
			if tc.want == "read" && strings.Contains(body, "Change your notes") {
				t.Errorf("consent page offers write")
			}
			resp := b.post(e.issuer+"/consent", merge(hidden(t, consent), url.Values{"decision": {"approve"}}))
			code := location(t, resp).Query().Get("code")
			tok := jsonBody(t, e.postForm("/token", tokenReq("pub1", code, verifier, pubRedirect)))
			if tok["scope"] != tc.want {
				t.Errorf("scope = %v, want %q", tok["scope"], tc.want)
			}
			_, claims := jwtParts(t, tok["access_token"].(string))
			if claims["sub"] != "https://idp.example#carol" {
				t.Errorf("sub = %v", claims["sub"])
			}
		})
	}
}
