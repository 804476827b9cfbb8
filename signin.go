package mcpauth

// This file implements upstream sign-in providers on the built-in login page.

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/ui"
)

// SignInProvider is an upstream identity provider offered on the built-in
// login page (see packages authn/oidc and authn/github).
type SignInProvider struct {
	// Name is shown on the button: "Continue with <Name>".
	Name string
	// Authenticator sends the browser to the provider (SignIn) and, once the
	// provider's callback has set its own session, finds the user there
	// (Authenticate).
	Authenticator Authenticator
}

// maxProviderName bounds a provider's display name.
const maxProviderName = 64

func checkSignInProviders(c *Config) error {
	if len(c.SignInProviders) > 0 && c.Authenticator != nil {
		return configErr("SignInProviders", "set SignInProviders or Authenticator, not both (an Authenticator replaces the built-in login page)")
	}
	seen := map[string]bool{}
	for i, p := range c.SignInProviders {
		switch {
		case p.Name == "" || len(p.Name) > maxProviderName:
			return configErr("SignInProviders", "provider %d needs a Name of 1 to %d bytes", i, maxProviderName)
		case p.Authenticator == nil:
			return configErr("SignInProviders", "provider %q has no Authenticator", p.Name)
		case seen[p.Name]:
			return configErr("SignInProviders", "duplicate provider name %q", p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// providerUser is the user of the first sign-in provider whose session
// knows this browser.
func (s *Server) providerUser(r *http.Request) (User, bool, error) {
	for _, p := range s.cfg.SignInProviders {
		u, ok, err := p.Authenticator.Authenticate(r)
		if err != nil {
			return User{}, false, err
		}
		if ok && u.Subject != "" {
			if u.Name == "" {
				u.Name = u.Subject
			}
			return u, true, nil
		}
	}
	return User{}, false, nil
}

// startProviderSignIn answers the login page's "Continue with …" link: the
// provider's SignIn, which must come back to this request's consent step.
func (s *Server) startProviderSignIn(w http.ResponseWriter, r *http.Request, pendingID, index string) error {
	i, err := strconv.Atoi(index)
	if err != nil || i < 0 || i >= len(s.cfg.SignInProviders) {
		return noRedirect(oauth.InvalidRequest("unknown sign-in provider"))
	}
	s.cfg.SignInProviders[i].Authenticator.SignIn(w, r, s.consentURL(pendingID))
	return nil
}

// providerLinks are the login page's "Continue with …" links.
func (s *Server) providerLinks(pendingID string) []ui.Provider {
	links := make([]ui.Provider, len(s.cfg.SignInProviders))
	for i, p := range s.cfg.SignInProviders {
		links[i] = ui.Provider{Name: p.Name, URL: s.basePath + pathLogin + "?req=" + url.QueryEscape(pendingID) + "&provider=" + strconv.Itoa(i)}
	}
	return links
}
