package main

import (
	"crypto/rand"
	"log/slog"
	"net/http"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/authn/github"
	"github.com/mcpauth/mcpauth/authn/oidc"
)

// Callback paths below the issuer, to register upstream.
const (
	oidcCallbackPath   = "/oidc/callback"
	githubCallbackPath = "/github/callback"
)

// upstreamAuthenticator is what authn/oidc and authn/github provide.
type upstreamAuthenticator interface {
	mcpauth.Authenticator
	http.Handler
	CallbackPath() string
}

// signInProviders adds the -oidc-* and -github-* providers to cfg and
// returns their callback handlers by path.
func signInProviders(o *options, cfg *mcpauth.Config, log *slog.Logger, a *app) (map[string]http.Handler, error) {
	if o.oidc.issuer == "" && o.github.clientID == "" {
		return nil, nil
	}
	key := o.signinKey
	if key == nil {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		log.Warn("mcp-auth-server: no -signin-cookie-key: upstream sign-ins end at restart and do not cross replicas")
	}
	callbacks := map[string]http.Handler{}
	add := func(name string, up upstreamAuthenticator, callback string) {
		cfg.SignInProviders = append(cfg.SignInProviders, mcpauth.SignInProvider{Name: name, Authenticator: up})
		callbacks[up.CallbackPath()] = up
		a.providers = append(a.providers, bannerProvider{name: name, callback: callback})
	}
	if o.oidc.issuer != "" {
		up, err := oidc.New(oidc.Config{Issuer: o.oidc.issuer, ClientID: o.oidc.clientID, ClientSecret: o.oidc.clientSecret,
			RedirectURL: o.issuer + oidcCallbackPath, AllowedDomains: o.oidc.allowedDomains, CookieKey: key, SessionTTL: o.signinSessionTTL, Logger: log})
		if err != nil {
			return nil, usagef("-oidc-issuer: %v", err)
		}
		add(o.oidc.name, up, o.issuer+oidcCallbackPath)
	}
	if o.github.clientID != "" {
		up, err := github.New(github.Config{ClientID: o.github.clientID, ClientSecret: o.github.clientSecret, Org: o.github.org,
			BaseURL: o.github.baseURL, RedirectURL: o.issuer + githubCallbackPath, CookieKey: key, SessionTTL: o.signinSessionTTL, Logger: log})
		if err != nil {
			return nil, usagef("-github-client-id: %v", err)
		}
		add("GitHub", up, o.issuer+githubCallbackPath)
	}
	return callbacks, nil
}
