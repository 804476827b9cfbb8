package mcpauth

// This file implements the token endpoint (OAuth 2.1 §3.2): the
// authorization_code grant (§4.1.3) and the refresh_token grant (§4.3).

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/secret"
	"github.com/mcpauth/mcpauth/store"
)

// handleToken implements the token endpoint (OAuth 2.1 §3.2): the
// authorization_code and refresh_token grants. Form bodies, and JSON
// bodies too, which some clients send.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) error {
	params, err := readParams(w, r, true)
	if err != nil {
		return err
	}
	grantType := params.Get("grant_type")
	if grantType == "" {
		return oauth.InvalidRequest("grant_type is required")
	}
	if grantType != "authorization_code" && grantType != "refresh_token" && !(grantType == grantTypeTokenExchange && s.tokenExchangeEnabled()) &&
		!(grantType == grantTypeClientCredentials && s.clientCredentialsEnabled()) {
		return oauth.UnsupportedGrantType("grant_type %q is not supported; use authorization_code or refresh_token", truncate(grantType, 64))
	}
	client, err := s.authenticateClient(r, params, false)
	if err != nil {
		return err
	}
	var resp *tokenResponse
	refreshed := grantType == "refresh_token"
	if refreshed {
		resp, err = s.refreshGrant(r.Context(), params, client)
	} else if grantType == grantTypeTokenExchange {
		resp, err = s.tokenExchangeGrant(r.Context(), params, client)
	} else if grantType == grantTypeClientCredentials {
		resp, err = s.clientCredentialsGrant(r.Context(), params, client)
	} else {
		resp, err = s.codeGrant(r.Context(), params, client)
	}
	if err != nil {
		return err
	}
	s.tokenIssued(r.Context(), client, resp, refreshed)
	writeJSON(w, http.StatusOK, resp, "no-store")
	return nil
}

// authenticateClient applies RFC 6749 §2.3.1: client_secret_basic (the
// form-urlencoded id and secret in HTTP Basic), client_secret_post, or none
// for public clients; each client only with its registered method
// (checkAuthMethod). Secrets are compared as digests in constant time.
// With optional set, a request without any client credentials yields nil.
func (s *Server) authenticateClient(r *http.Request, params url.Values, optional bool) (*store.Client, error) {
	if params.Has("client_assertion") || params.Has("client_assertion_type") {
		return s.authenticateAssertion(r, params)
	}
	id, sec, basic, err := clientCredentials(r, params)
	if err != nil {
		return nil, err
	}
	fail := func(desc string) error {
		e := oauth.InvalidClient("%s", desc)
		e.BasicChallenge = basic
		return e
	}
	if id == "" {
		if optional {
			return nil, nil
		}
		return nil, fail("client authentication is required")
	}
	client, err := s.getClient(r.Context(), id)
	if err != nil {
		var oe *oauth.Error
		if errors.As(err, &oe) && oe.Code == "invalid_client" {
			return nil, fail("unknown client or bad credentials")
		}
		return nil, err
	}
	if client.IsPublic() {
		if sec != "" || basic {
			return nil, fail("this client is public: send client_id only")
		}
		return client, nil
	}
	if sec == "" {
		return nil, fail("this client must authenticate with its client_secret")
	}
	if !secret.Equal(secret.Sum(sec), client.SecretDigest) {
		return nil, fail("unknown client or bad credentials")
	}
	if !client.SecretExpiresAt.IsZero() && !s.now().Before(client.SecretExpiresAt) {
		return nil, fail("the client secret has expired")
	}
	if err := checkAuthMethod(client, basic); err != nil {
		return nil, err
	}
	return client, nil
}

// clientCredentials extracts the client id and secret from the Authorization
// header or the body; using both methods at once is an error (§2.3).
func clientCredentials(r *http.Request, params url.Values) (id, sec string, basic bool, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Basic") {
			return "", "", false, oauth.InvalidClient("only HTTP Basic client authentication is supported in the Authorization header")
		}
		raw, decErr := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		u, p, found := strings.Cut(string(raw), ":")
		if decErr != nil || !found {
			e := oauth.InvalidClient("malformed HTTP Basic credentials")
			e.BasicChallenge = true
			return "", "", true, e
		}
		// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic.
		if id, err = url.QueryUnescape(u); err == nil {
			sec, err = url.QueryUnescape(p)
		}
		if err != nil {
			e := oauth.InvalidClient("malformed HTTP Basic credentials")
			e.BasicChallenge = true
			return "", "", true, e
		}
		if params.Get("client_secret") != "" {
			return "", "", true, oauth.InvalidRequest("use one client authentication method, not Basic and client_secret together")
		}
		if bodyID := params.Get("client_id"); bodyID != "" && bodyID != id {
			return "", "", true, oauth.InvalidClient("client_id does not match the Basic credentials")
		}
		return id, sec, true, nil
	}
	return params.Get("client_id"), params.Get("client_secret"), false, nil
}

// codeGrant redeems an authorization code (OAuth 2.1 §4.1.3). The code is
// read, checked, turned into tokens, and only then consumed together with
// what those tokens need in the store (GrantStore.RedeemCode): a failure
// before that leaves the code redeemable, so the client may retry. A failed
// check burns the code, so it cannot be retried with other parameters.
func (s *Server) codeGrant(ctx context.Context, params url.Values, client *store.Client) (*tokenResponse, error) {
	code, verifier := params.Get("code"), params.Get("code_verifier")
	switch {
	case code == "":
		return nil, oauth.InvalidRequest("code is required")
	case verifier == "":
		return nil, oauth.InvalidRequest("code_verifier is required (PKCE)")
	case len(code) > 256:
		return nil, oauth.InvalidGrant("the authorization code is invalid, expired or already used")
	}
	digest := secret.Digest(code)
	rec, err := s.grants.GetCode(ctx, digest)
	if err != nil {
		return nil, s.codeErr(ctx, rec, err)
	}
	if err := s.checkCode(params, rec, client, verifier); err != nil {
		if _, burnErr := s.grants.ConsumeCode(ctx, digest); burnErr != nil && !errors.Is(burnErr, store.ErrCodeReplayed) && !errors.Is(burnErr, store.ErrNotFound) {
			s.log.Warn("mcpauth: burning an authorization code after a failed check", "client_id", client.ID, "err", burnErr)
		}
		return nil, err
	}
	resp, red, err := s.authority.exchange(ctx, code, rec, client)
	if err != nil {
		return nil, err
	}
	if rec, err = s.grants.RedeemCode(ctx, digest, red); err != nil {
		return nil, s.codeErr(ctx, rec, err)
	}
	return resp, nil
}

// codeErr turns a store error about a code into the OAuth answer; a replay
// revokes what the code issued.
func (s *Server) codeErr(ctx context.Context, rec *store.CodeRecord, err error) error {
	switch {
	case errors.Is(err, store.ErrCodeReplayed):
		s.compromised(ctx, EventCodeReplayDetected, rec.GrantID, rec.ClientID, rec.Subject)
		return oauth.InvalidGrant("the authorization code was already used; tokens issued from it are revoked")
	case errors.Is(err, store.ErrNotFound):
		return oauth.InvalidGrant("the authorization code is invalid, expired or already used")
	}
	return storeErr(err)
}

// checkCode applies the checks of OAuth 2.1 §4.1.3 to a code's record.
func (s *Server) checkCode(params url.Values, rec *store.CodeRecord, client *store.Client, verifier string) error {
	if rec.ClientID != client.ID {
		return oauth.InvalidGrant("the authorization code was issued to another client")
	}
	// OAuth 2.1 §4.1.3: a redirect_uri sent with the authorization request
	// must be repeated exactly; omitted there, it may be omitted here.
	if redirectURI := params.Get("redirect_uri"); rec.RedirectURI != "" && redirectURI != rec.RedirectURI ||
		rec.RedirectURI == "" && redirectURI != "" && !slices.Contains(client.RedirectURIs, redirectURI) {
		return oauth.InvalidGrant("redirect_uri must be identical to the one in the authorization request")
	}
	if !validCodeVerifier(verifier) || !VerifyCodeChallenge(verifier, rec.CodeChallenge) {
		return oauth.InvalidGrant("PKCE verification failed: code_verifier does not match code_challenge")
	}
	return s.checkTokenResource(params, rec.Resource)
}

// checkTokenResource: a resource at the token endpoint must be the one the
// grant was made for (RFC 8707 §2.2).
func (s *Server) checkTokenResource(params url.Values, granted string) error {
	res := params["resource"]
	switch {
	case len(res) == 0:
		return nil
	case len(res) > 1:
		return oauth.InvalidTarget("only one resource may be requested at a time")
	case res[0] != granted && !(granted == "" && res[0] == s.cfg.Issuer):
		return oauth.InvalidTarget("resource does not match the authorization grant")
	}
	return nil
}

// compromised ends a grant whose code or refresh token was presented
// twice: someone else holds a copy, so everything issued from it is revoked
// (OAuth 2.1 §4.1.3 for codes, §4.3.1 for refresh tokens).
func (s *Server) compromised(ctx context.Context, ev EventType, grantID, clientID, subject string) {
	s.log.Warn("mcpauth: credential replay detected; revoking its grant", "event", ev, "grant_id", grantID, "client_id", clientID)
	if err := s.endGrant(ctx, grantID); err != nil {
		s.log.Error("mcpauth: revoking grant after a replay", "event", ev, "grant_id", grantID, "err", err)
	}
	s.emit(ctx, Event{Type: ev, ClientID: clientID, Subject: subject, GrantID: grantID})
	s.revoked(ctx, "", grantID)
}

// refreshReused is compromised for a refresh token.
func (s *Server) refreshReused(ctx context.Context, old *store.RefreshRecord) {
	s.compromised(ctx, EventRefreshReuseDetected, old.GrantID, old.ClientID, old.Subject)
}

// refreshGrant implements the refresh_token grant (OAuth 2.1 §4.3): bound to
// its client, rotated on every use, scope may narrow but never widen.
func (s *Server) refreshGrant(ctx context.Context, params url.Values, client *store.Client) (*tokenResponse, error) {
	token := params.Get("refresh_token")
	if token == "" {
		return nil, oauth.InvalidRequest("refresh_token is required")
	}
	if len(token) > 512 {
		return nil, oauth.InvalidGrant("the refresh token is invalid, expired or revoked")
	}
	rec, err := s.grants.LookupRefresh(ctx, secret.Digest(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the refresh token is invalid, expired or revoked")
	case errors.Is(err, store.ErrRefreshReused) && rec.ClientID == client.ID && s.cfg.RefreshRetryWindow > 0 && s.cfg.Grantex.Client == nil:
		// The same client may be retrying a refresh whose answer it lost:
		// the rotation decides, atomically, and ends the grant if the
		// window (Config.RefreshRetryWindow) is shut.
	case errors.Is(err, store.ErrRefreshReused):
		s.refreshReused(ctx, rec)
		return nil, oauth.InvalidGrant("the refresh token was already used; the grant has been revoked")
	case err != nil:
		return nil, storeErr(err)
	}
	if rec.ClientID != client.ID {
		return nil, oauth.InvalidGrant("the refresh token was issued to another client")
	}
	if !client.HasGrantType("refresh_token") && !isSubset([]string{scopeOfflineAccess}, rec.Scopes) {
		return nil, oauth.UnauthorizedClient("this client did not register the refresh_token grant")
	}
	scopes := rec.Scopes
	if raw := params.Get("scope"); raw != "" {
		scopes = parseScope(raw)
		if !isSubset(scopes, rec.Scopes) {
			return nil, oauth.InvalidScope("the requested scope exceeds the original grant")
		}
	}
	if err := s.checkTokenResource(params, rec.Resource); err != nil {
		return nil, err
	}
	return s.authority.refresh(ctx, token, rec, client, scopes)
}

// tokenIssued fires the OnTokenIssued hook and the audit event.
func (s *Server) tokenIssued(ctx context.Context, client *store.Client, resp *tokenResponse, refreshed bool) {
	typ := EventTokenIssued
	if refreshed {
		typ = EventTokenRefreshed
	}
	s.emit(ctx, Event{Type: typ, ClientID: client.ID, Subject: resp.subject, GrantID: resp.grantID, TokenID: resp.tokenID, Scopes: resp.scopes})
	if h := s.cfg.Hooks.OnTokenIssued; h != nil {
		e := TokenIssuedEvent{ClientID: client.ID, Subject: resp.subject, Scopes: resp.scopes, GrantID: resp.grantID,
			AgentDID: resp.agentDID, TokenID: resp.tokenID, Refreshed: refreshed}
		e.ExpiresAt = s.now().Add(durationSeconds(resp.ExpiresIn))
		s.runHook(ctx, "OnTokenIssued", func() error { return h(ctx, e) })
	}
}
