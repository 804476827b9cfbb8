package mcpauth

// This file implements the authorization endpoint (OAuth 2.1 §4.1.1):
// request validation, PKCE (RFC 7636), resource indicators (RFC 8707 §2)
// and the hand-off to sign-in and consent (handlers_consent.go).

import (
	"context"
	"net/http"
	"net/url"
	"slices"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/secret"
	"github.com/mcpauth/mcpauth/store"
)

// maxFormBody bounds form and JSON request bodies on every endpoint.
const maxFormBody = 64 << 10

// handleAuthorize implements the authorization endpoint (OAuth 2.1 §4.1.1).
// Phase 1 validates client_id, redirect_uri and the size of state; its
// errors are shown to the user and never redirected. Phase 2 errors go back
// to the client with error, state and iss (RFC 6749 §4.1.2.1, RFC 9207) only
// when the operator configured the client: a redirect URI anyone could have
// registered is not sent errors before the user has signed in and answered
// (RFC 9700 §4.11.2); they are shown on our page, naming its host.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) error {
	params, dupErr := readParams(w, r, false)
	if dupErr != nil && (params == nil || len(params["client_id"]) > 1 || len(params["redirect_uri"]) > 1) {
		return noRedirect(dupErr)
	}
	client, redirectURI, err := s.validateClientRedirect(r.Context(), params)
	if err != nil {
		return err
	}
	state := params.Get("state")
	if len(params["state"]) > 1 {
		state = ""
	}
	// state comes back in the redirect: an over-long one is never reflected.
	if len(state) > s.cfg.MaxStateLength {
		s.showAuthorizeError(w, r, redirectURI, oauth.InvalidRequest("state is longer than %d bytes", s.cfg.MaxStateLength))
		return nil
	}
	answer := func(err error) {
		if s.trustedRedirect(client) {
			s.redirectError(w, r, redirectURI, state, err)
		} else {
			s.showAuthorizeError(w, r, redirectURI, err)
		}
	}
	// A repeated parameter other than client_id and redirect_uri is a
	// redirectable invalid_request (RFC 6749 §4.1.2.1).
	p, err := s.validateAuthorizationRequest(params, client)
	if dupErr != nil {
		err = dupErr
	}
	if err != nil {
		answer(err)
		return nil
	}
	// The redirect_uri as requested, empty when omitted: the token request
	// must then repeat it exactly (OAuth 2.1 §4.1.3).
	p.RedirectURI, p.State = params.Get("redirect_uri"), state
	p.ExpiresAt = s.now().Add(s.cfg.CodeTTL)
	pendingID := secret.New("")
	if err := s.grants.SavePending(r.Context(), secret.Digest(pendingID), p); err != nil {
		answer(storeErr(err))
		return nil
	}
	if user, ok := s.consentingUser(r, client); ok {
		req := consentRequest{pendingID: pendingID, p: p, client: client, user: user, autoApprove: true}
		return s.show(w, r)(s.authority.consent(r.Context(), req))
	}
	http.Redirect(w, r, s.consentURL(pendingID), http.StatusFound)
	return nil
}

// trustedRedirect reports whether the client's redirect URIs come from the
// operator (Config.StaticClients) rather than from whoever registered or
// published the client (RFC 7591, client ID metadata documents).
func (s *Server) trustedRedirect(c *store.Client) bool {
	_, ok := s.static[c.ID]
	return ok
}

// showAuthorizeError shows an authorization request error on our own page,
// naming the host the client wanted the answer sent to.
func (s *Server) showAuthorizeError(w http.ResponseWriter, r *http.Request, redirectURI string, err error) {
	oe := noRedirect(err)
	s.logError(r, oe)
	if !acceptsHTML(r) {
		oauth.Write(w, oe)
		return
	}
	s.renderErrorPage(w, oe, redirectHost(redirectURI))
}

// redirectTarget is where the answer to p goes: its redirect_uri or, when
// the request omitted it, the client's only registered URI. Empty when that
// is no longer one URI: the answer is then shown, not redirected.
func (s *Server) redirectTarget(ctx context.Context, p *store.PendingAuthorization) string {
	if p.RedirectURI != "" {
		return p.RedirectURI
	}
	c, err := s.getClient(ctx, p.ClientID)
	if err != nil || len(c.RedirectURIs) != 1 {
		return ""
	}
	return c.RedirectURIs[0]
}

// noRedirect marks an error as one to show rather than redirect.
func noRedirect(err error) *oauth.Error {
	oe := oauth.As(err)
	c := *oe
	c.NoRedirect = true
	return &c
}

// validateClientRedirect is phase 1: a known client and one of its redirect URIs.
func (s *Server) validateClientRedirect(ctx context.Context, params url.Values) (*store.Client, string, error) {
	clientID := params.Get("client_id")
	if clientID == "" {
		return nil, "", noRedirect(oauth.InvalidRequest("client_id is required"))
	}
	client, err := s.getClient(ctx, clientID)
	if err != nil {
		oe := noRedirect(err)
		if oe.Code == "invalid_client" {
			oe.Status = http.StatusBadRequest // a page, not an HTTP authentication challenge
		}
		return nil, "", oe
	}
	redirectURI := params.Get("redirect_uri")
	if redirectURI == "" {
		if len(client.RedirectURIs) != 1 {
			return nil, "", noRedirect(oauth.InvalidRequest("redirect_uri is required: the client registered more than one"))
		}
		return client, client.RedirectURIs[0], nil
	}
	if !matchRedirectURI(client.RedirectURIs, redirectURI) {
		return nil, "", noRedirect(oauth.InvalidRequest("redirect_uri does not match any URI registered for this client"))
	}
	return client, redirectURI, nil
}

// validateAuthorizationRequest is phase 2: response type, PKCE, scope, resource.
func (s *Server) validateAuthorizationRequest(params url.Values, client *store.Client) (*store.PendingAuthorization, error) {
	if rt := params.Get("response_type"); rt != "code" {
		if rt == "" {
			return nil, oauth.InvalidRequest("response_type is required")
		}
		return nil, oauth.UnsupportedResponseType("response_type must be code")
	}
	challenge := params.Get("code_challenge")
	if challenge == "" {
		return nil, oauth.InvalidRequest("PKCE is required: send code_challenge with code_challenge_method=S256")
	}
	if m := params.Get("code_challenge_method"); m != "S256" {
		return nil, oauth.InvalidRequest("code_challenge_method must be S256 (plain is not allowed)")
	}
	if !validCodeChallenge(challenge) {
		return nil, oauth.InvalidRequest("code_challenge must be 43 base64url characters (PKCE S256)")
	}
	scopes, err := s.requestedScopes(params.Get("scope"), client)
	if err != nil {
		return nil, err
	}
	resource, err := s.requestedResource(params["resource"])
	if err != nil {
		return nil, err
	}
	return &store.PendingAuthorization{ClientID: client.ID, CodeChallenge: challenge, Scopes: scopes, Resource: resource}, nil
}

// requestedScopes validates the scope parameter against the supported set
// and the client's registered scope; empty means the defaults.
func (s *Server) requestedScopes(raw string, client *store.Client) ([]string, error) {
	if len(raw) > 4096 {
		return nil, oauth.InvalidScope("scope is too long")
	}
	scopes := parseScope(raw)
	allowed := parseScope(client.Scope)
	for _, sc := range scopes {
		if !s.scopeSupported(sc) {
			return nil, oauth.InvalidScope("scope %q is not supported", truncate(sc, 64))
		}
		if len(allowed) > 0 && sc != scopeOfflineAccess && !slices.Contains(allowed, sc) {
			return nil, oauth.InvalidScope("scope %q was not registered for this client", truncate(sc, 64))
		}
	}
	if len(scopes) == 0 {
		switch {
		case len(allowed) > 0:
			scopes = allowed
		case len(s.cfg.DefaultScopes) > 0:
			scopes = slices.Clone(s.cfg.DefaultScopes)
		default:
			scopes = slices.Clone(s.cfg.Scopes)
		}
	}
	return scopes, nil
}

// requestedResource validates RFC 8707 resource indicators. One resource per
// request; with a single configured resource it is the default.
func (s *Server) requestedResource(values []string) (string, error) {
	switch len(values) {
	case 0:
		if len(s.cfg.Resources) == 1 {
			return s.cfg.Resources[0], nil
		}
		return "", nil
	case 1:
	default:
		return "", oauth.InvalidTarget("only one resource may be requested at a time")
	}
	res := values[0]
	if err := validResourceURI(res); err != nil {
		return "", oauth.InvalidTarget("resource %v", err)
	}
	if len(s.resources) > 0 && !s.resources[res] {
		return "", oauth.InvalidTarget("resource %q is not served by this authorization server", truncate(res, 100))
	}
	return res, nil
}

// audience is the aud of tokens for a grant on resource.
func (s *Server) audience(resource string) string {
	if resource != "" {
		return resource
	}
	return s.cfg.Issuer
}
