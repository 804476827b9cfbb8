package main

import (
	"encoding/base64"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/internal/testop"
)

func TestParseSignInFlags(t *testing.T) {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	env := envMap(map[string]string{
		"MCPAUTH_OIDC_ISSUER":          "https://accounts.google.com",
		"MCPAUTH_OIDC_CLIENT_ID":       "goog-id",
		"MCPAUTH_OIDC_CLIENT_SECRET":   "goog-secret",
		"MCPAUTH_OIDC_ALLOWED_DOMAIN":  "example.com, example.org",
		"MCPAUTH_GITHUB_CLIENT_ID":     "gh-id",
		"MCPAUTH_GITHUB_CLIENT_SECRET": "gh-secret",
		"MCPAUTH_GITHUB_ORG":           "acme",
		"MCPAUTH_PASSWORD_LOGIN":       "false",
		"MCPAUTH_SIGNIN_COOKIE_KEY":    key,
		"MCPAUTH_SIGNIN_SESSION_TTL":   "1h",
	})
	o, err := parseFlags(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := oidcOptions{issuer: "https://accounts.google.com", clientID: "goog-id", clientSecret: "goog-secret", name: "Google",
		allowedDomains: []string{"example.com", "example.org"}}
	if o.oidc.issuer != want.issuer || o.oidc.clientID != want.clientID || o.oidc.clientSecret != want.clientSecret ||
		o.oidc.name != want.name || !slices.Equal(o.oidc.allowedDomains, want.allowedDomains) {
		t.Errorf("oidc = %+v, want %+v", o.oidc, want)
	}
	if o.github != (githubOptions{clientID: "gh-id", clientSecret: "gh-secret", org: "acme"}) || o.passwordLogin || len(o.signinKey) != 32 || o.signinSessionTTL != time.Hour {
		t.Errorf("github = %+v, passwordLogin %v, key %d bytes", o.github, o.passwordLogin, len(o.signinKey))
	}

	// Flags win; a repeated flag replaces the environment's list.
	o, err = parseFlags([]string{"-oidc-issuer", "https://dev-1.okta.com/oauth2/default", "-oidc-allowed-domain", "corp.example",
		"-oidc-name", "Corp SSO", "-password-login=true", "-github-url", "https://github.corp.example"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.oidc.name != "Corp SSO" || !slices.Equal(o.oidc.allowedDomains, []string{"corp.example"}) || !o.passwordLogin ||
		o.github.baseURL != "https://github.corp.example" {
		t.Errorf("flags over env: %+v %+v %v", o.oidc, o.github, o.passwordLogin)
	}

	for issuer, name := range map[string]string{
		"https://dev-1.okta.com":                     "Okta",
		"https://login.microsoftonline.com/tid/v2.0": "Microsoft",
		"https://keycloak.example/realms/r":          "keycloak.example",
		"https://accounts.google.com":                "Google",
	} {
		if got := providerName(issuer); got != name {
			t.Errorf("providerName(%q) = %q, want %q", issuer, got, name)
		}
	}

	o, err = parseFlags(nil, envMap(nil), io.Discard)
	if err != nil || !o.passwordLogin || o.oidc.issuer != "" || o.github.clientID != "" || o.signinSessionTTL != 12*time.Hour {
		t.Errorf("defaults: %+v %v", o, err)
	}
}

func TestParseSignInFlagsErrors(t *testing.T) {
	oidc := []string{"-oidc-issuer", "https://idp.example", "-oidc-client-id", "c"}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-oidc-client-id", "c"}, nil, "need -oidc-issuer"},
		{[]string{"-oidc-allowed-domain", "example.com"}, nil, "need -oidc-issuer"},
		{[]string{"-oidc-issuer", "https://idp.example"}, nil, "-oidc-client-id"},
		{[]string{"-oidc-issuer", "http://idp.example", "-oidc-client-id", "c"}, nil, "-oidc-issuer"},
		{[]string{"-oidc-issuer", "idp.example", "-oidc-client-id", "c"}, nil, "-oidc-issuer"},
		{append(slices.Clone(oidc), "-oidc-allowed-domain", "@example.com"), nil, "-oidc-allowed-domain"},
		{append(slices.Clone(oidc), "-oidc-name", strings.Repeat("n", 65)), nil, "-oidc-name"},
		{[]string{"-github-client-id", "g"}, nil, "-github-client-secret"},
		{[]string{"-github-org", "acme"}, nil, "need -github-client-id"},
		{[]string{"-github-client-id", "g", "-github-client-secret", "s", "-github-url", "github.corp"}, nil, "-github-url"},
		{[]string{"-password-login=false"}, nil, "nobody could sign in"},
		{append(slices.Clone(oidc), "-password-login=false", "-user", "a:b"), nil, "contradict"},
		{append(slices.Clone(oidc), "-signin-cookie-key", "c2hvcnQ="), nil, "-signin-cookie-key"},
		{oidc, map[string]string{"MCPAUTH_PASSWORD_LOGIN": "nope"}, "MCPAUTH_PASSWORD_LOGIN"},
		{append(slices.Clone(oidc), "-signin-session-ttl", "10s"), nil, "-signin-session-ttl"},
		{append(slices.Clone(oidc), "-signin-session-ttl", "1000h"), nil, "-signin-session-ttl"},
	} {
		_, err := parseFlags(tc.args, envMap(tc.env), io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: err %v, want a usage error mentioning %q", tc.args, tc.env, err, tc.want)
		}
	}
}

// TestSignInProvidersServed: with -oidc-issuer, -github-client-id and
// -password-login=false the sign-in page offers only the providers, each
// button leads to its provider, and the callbacks are mounted.
func TestSignInProvidersServed(t *testing.T) {
	op := testop.Start(t, []string{"http://127.0.0.1/unused"})
	s := startRun(t, "-store", "memory:", "-oidc-issuer", op.Issuer, "-oidc-client-id", testop.ClientID,
		"-oidc-client-secret", testop.ClientSecret, "-oidc-name", "Test IdP", "-github-client-id", "gh", "-github-client-secret", "ghs",
		"-password-login=false", "-static-client", "app:http://127.0.0.1:9/cb")
	if !strings.Contains(s.banner, "Test IdP (callback "+s.issuer+"/oidc/callback)") || !strings.Contains(s.banner, s.issuer+"/github/callback") {
		t.Errorf("banner:\n%s", s.banner)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(r.URL.String(), s.issuer) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	get := func(u string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {"http://127.0.0.1:9/cb"},
		"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
	_, login := get(s.issuer + "/authorize?" + q.Encode())
	if strings.Contains(login, `name="password"`) {
		t.Errorf("password form shown with -password-login=false:\n%s", login)
	}
	links := regexp.MustCompile(`<a class="button" href="([^"]+)">Continue with ([^<]+)</a>`).FindAllStringSubmatch(login, -1)
	if len(links) != 2 || links[0][2] != "Test IdP" || links[1][2] != "GitHub" {
		t.Fatalf("links %q in:\n%s", links, login)
	}
	for i, want := range []string{op.Issuer + "/auth?", "https://github.com/login/oauth/authorize?"} {
		resp, _ := get(s.issuer + html.UnescapeString(links[i][1]))
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, want) {
			t.Errorf("Continue with %s: %d %q, want %s…", links[i][2], resp.StatusCode, loc, want)
		}
	}
	for _, path := range []string{"/oidc/callback", "/github/callback"} {
		resp, body := get(s.issuer + path + "?state=forged&code=x")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_state") {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	resp, _ := get(s.issuer + "/login?req=x")
	if resp.StatusCode == http.StatusNotFound {
		t.Errorf("no login page with upstream providers only")
	}
}
