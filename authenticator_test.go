package mcpauth_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store"
)

// TestHostAuthenticator: with the host's own sign-in, /authorize hands the
// browser to the host's login URL with a return URL, and the signed-in user
// is who consents and becomes the token's sub.
func TestHostAuthenticator(t *testing.T) {
	const redirect = "http://127.0.0.1:9997/cb"
	_, ts := e2eServer(t, func(c *mcpauth.Config) {
		c.Users = nil
		c.Authenticator = hostSignIn{
			current: func(r *http.Request) (mcpauth.User, bool, error) {
				ck, err := r.Cookie("host_session")
				if err != nil {
					return mcpauth.User{}, false, nil
				}
				return mcpauth.User{Subject: "user-" + ck.Value, Name: ck.Value}, true, nil
			},
			loginURL: func(returnTo string) string { return "/host-login?next=" + url.QueryEscape(returnTo) },
		}
		c.StaticClients = []store.Client{{ID: "app", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{redirect}}}}
	})
	conf := &oauth2.Config{ClientID: "app", RedirectURL: redirect, Scopes: []string{"tools:read"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.URL + "/authorize", TokenURL: ts.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()

	br := newE2EBrowser(t, redirect)
	br.client.CheckRedirect = func(r *http.Request, via []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := br.client.Get(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	consentURL := resp.Header.Get("Location")
	if !strings.HasPrefix(consentURL, ts.URL+"/consent?req=") {
		t.Fatalf("authorize redirected to %q, want the consent step", consentURL)
	}
	resp, err = br.client.Get(consentURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	login, _ := url.Parse(resp.Header.Get("Location"))
	if login.Path != "/host-login" || login.Query().Get("next") != consentURL {
		t.Fatalf("not signed in: redirected to %q, want the host login with next=%q", resp.Header.Get("Location"), consentURL)
	}

	// The host signs the user in and sends the browser back.
	u, _ := url.Parse(ts.URL)
	br.client.Jar.SetCookies(u, []*http.Cookie{{Name: "host_session", Value: "bob"}})
	br = &e2eBrowser{t: t, client: br.client}
	br.client.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) {
			br.callback = r.URL
			return http.ErrUseLastResponse
		}
		return nil
	}
	page := br.get(consentURL)
	if !strings.Contains(page, "bob") {
		t.Fatalf("the consent page does not show the signed-in user: %.300s", page)
	}
	br.submit(page, ts.URL+"/consent", url.Values{"decision": {"approve"}})
	if br.callback == nil {
		t.Fatal("no redirect to the client")
	}
	tok, err := conf.Exchange(t.Context(), br.callback.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	claims := strings.Split(tok.AccessToken, ".")[1]
	if !strings.Contains(decodeSegment(t, claims), `"sub":"user-bob"`) {
		t.Fatalf("token subject is not the host's user: %s", decodeSegment(t, claims))
	}
}

func decodeSegment(t *testing.T, seg string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
