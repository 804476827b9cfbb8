package mcpauth_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store"
)

// hostSessions adapts a host application's own sign-in to
// [mcpauth.Authenticator]: the user comes from the host's session cookie,
// and a browser without one goes to the host's sign-in page, which sends it
// back to returnTo once the user has signed in.
type hostSessions struct {
	users      map[string]mcpauth.User // session id → user: the host's session store
	signInPage string
}

func (h *hostSessions) Authenticate(r *http.Request) (mcpauth.User, bool, error) {
	c, err := r.Cookie("session")
	if err != nil {
		return mcpauth.User{}, false, nil
	}
	u, ok := h.users[c.Value]
	return u, ok, nil
}

func (h *hostSessions) SignIn(w http.ResponseWriter, r *http.Request, returnTo string) {
	http.Redirect(w, r, h.signInPage+"?next="+url.QueryEscape(returnTo), http.StatusFound)
}

// ExampleAuthenticator signs users in with the host application's own
// sessions instead of the built-in login page: /authorize sends a browser
// without a session to the host's sign-in page.
func ExampleAuthenticator() {
	auth, err := mcpauth.NewServer(mcpauth.Config{
		Issuer: "https://example.com",
		Scopes: []string{"tools:read"},
		Authenticator: &hostSessions{
			users:      map[string]mcpauth.User{"s3cr3t": {Subject: "alice"}},
			signInPage: "https://example.com/signin",
		},
		StaticClients: []store.Client{{ID: "app", ClientMetadata: store.ClientMetadata{
			RedirectURIs: []string{"http://127.0.0.1:9999/cb"}, TokenEndpointAuthMethod: "none"}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()

	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {"http://127.0.0.1:9999/cb"},
		"code_challenge":        {mcpauth.S256Challenge("a-verifier-of-at-least-43-characters-0123456789")},
		"code_challenge_method": {"S256"}, "state": {"xyz"}}
	next := "https://example.com/authorize?" + q.Encode()
	for range 2 { // /authorize → /consent, which asks the Authenticator to sign the user in
		rec := httptest.NewRecorder()
		auth.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, next, nil))
		next = rec.Header().Get("Location")
		to, _ := url.Parse(next)
		fmt.Println(rec.Code, to.Host+to.Path)
	}
	// Output:
	// 302 example.com/consent
	// 302 example.com/signin
}
