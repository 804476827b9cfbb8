package mcpauth

// This file implements RFC 7592, OAuth 2.0 Dynamic Client Registration
// Management: the client configuration endpoint (/register/{id}) where a
// dynamically registered client reads, updates and deletes its
// registration with the registration access token it was issued.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/secret"
	"github.com/mcpauth/mcpauth/store"
)

// Audit events of client management (RFC 7592 and the admin API).
const (
	EventClientUpdated EventType = "client.updated"
	EventClientDeleted EventType = "client.deleted"
)

// clientInformation is the RFC 7591 §3.2.1 / RFC 7592 §3 answer for c.
// plainSecret is set only when the secret was just issued; a stored secret
// is never shown (only its digest is kept). The registration access token,
// likewise, is shown only when issued.
func (s *Server) clientInformation(c *store.Client, plainSecret string) registrationResponse {
	resp := registrationResponse{
		ClientID:         c.ID,
		ClientSecret:     plainSecret,
		ClientIDIssuedAt: c.IssuedAt.Unix(),
		ClientMetadata:   c.ClientMetadata,
	}
	if !c.IsPublic() {
		never := int64(0) // RFC 7591 §3.2.1: 0 means the secret does not expire
		if !c.SecretExpiresAt.IsZero() {
			never = c.SecretExpiresAt.Unix()
		}
		resp.ClientSecretExpiresAt = &never
	}
	if len(c.RegistrationTokenDigest) > 0 {
		resp.RegistrationClientURI = s.endpoint(pathRegister + "/" + url.PathEscape(c.ID))
	}
	return resp
}

// handleClientConfig implements the RFC 7592 §2 client configuration
// endpoint: GET reads the registration (§2.1), PUT replaces its metadata
// (§2.2) and DELETE removes the client and ends its grants (§2.3).
func (s *Server) handleClientConfig(w http.ResponseWriter, r *http.Request) error {
	client, err := s.registrationClient(w, r)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodPut:
		return s.updateRegistration(w, r, client)
	case http.MethodDelete:
		if err := s.deleteClient(r.Context(), client.ID, "client "+client.ID); err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return nil
	default:
		writeJSON(w, http.StatusOK, s.clientInformation(client, ""), "no-store")
		return nil
	}
}

// registrationClient authenticates the request with the registration
// access token of the client named in the path. Every failure (no token, a
// wrong one, an unknown client, a client registered without one) is the
// same 401 invalid_token with an RFC 6750 §3 challenge, so the endpoint
// does not tell which client ids exist (RFC 7592 §2.1).
func (s *Server) registrationClient(w http.ResponseWriter, r *http.Request) (*store.Client, error) {
	refuse := func(code, desc string) error {
		w.Header().Set("WWW-Authenticate", bearerChallenge(code, desc, "", ""))
		if code == "" {
			code = "invalid_token"
		}
		return &oauth.Error{Code: code, Description: desc, Status: http.StatusUnauthorized}
	}
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return nil, refuse("", "the registration access token is required")
	}
	if len(values) > 1 {
		return nil, oauth.InvalidRequest("more than one Authorization header")
	}
	token, err := parseBearer(values[0])
	if err != nil || token == "" || len(token) > 512 {
		return nil, refuse("invalid_token", "the registration access token is missing or malformed")
	}
	// Server.ServeHTTP dispatches with mux.Handler, which sets no path
	// values: the id is the path's last segment.
	id := strings.TrimPrefix(r.URL.Path, s.basePath+pathRegister+"/")
	client, err := s.clients.GetClient(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, refuse("invalid_token", "the registration access token is not valid for this client")
	case err != nil:
		return nil, storeErr(err)
	}
	if len(client.RegistrationTokenDigest) == 0 || !secret.Equal(secret.Sum(token), client.RegistrationTokenDigest) {
		return nil, refuse("invalid_token", "the registration access token is not valid for this client")
	}
	return client, nil
}

// updateRegistration implements RFC 7592 §2.2: the body replaces the
// client's metadata (omitted fields take their defaults), validated exactly
// as a registration. The client keeps its id, secret and registration
// token; a public client that becomes confidential is issued a secret
// (shown once, in this answer), a confidential one that becomes public loses it.
func (s *Server) updateRegistration(w http.ResponseWriter, r *http.Request, old *store.Client) error {
	req, err := decodeRegistration(r)
	if err != nil {
		return err
	}
	if req.ClientID != old.ID {
		return oauth.InvalidRequest("client_id in the body must be the client's id")
	}
	if req.ClientSecret != "" && (len(old.SecretDigest) == 0 || !secret.Equal(secret.Sum(req.ClientSecret), old.SecretDigest)) {
		return oauth.InvalidRequest("client_secret does not match the client's secret; a client cannot choose its secret")
	}
	c, err := s.validateRegistration(req)
	if err != nil {
		return err
	}
	c.ID, c.IssuedAt, c.LastUsedAt = old.ID, old.IssuedAt, old.LastUsedAt
	c.RegistrationTokenDigest = old.RegistrationTokenDigest
	var plainSecret string
	switch {
	case c.IsPublic():
	case old.IsPublic() || len(old.SecretDigest) == 0:
		plainSecret = secret.New("")
		c.SecretDigest = secret.Sum(plainSecret)
	default:
		c.SecretDigest, c.SecretExpiresAt = old.SecretDigest, old.SecretExpiresAt
	}
	if err := s.clients.SetClient(r.Context(), c); err != nil {
		return storeErr(err)
	}
	s.emit(r.Context(), Event{Type: EventClientUpdated, ClientID: c.ID, Actor: "client " + c.ID})
	writeJSON(w, http.StatusOK, s.clientInformation(c, plainSecret), "no-store")
	return nil
}

// deleteClient removes a client and then ends every grant it holds, through
// the authority as /revoke does (managed mode revokes at Grantex too), so
// its tokens stop working at once. The client goes first: from then on it
// cannot authenticate, so no new grant can appear behind the sweep.
func (s *Server) deleteClient(ctx context.Context, id, actor string) error {
	if _, err := s.clients.DeleteClient(ctx, id); err != nil {
		return storeErr(err)
	}
	s.emit(ctx, Event{Type: EventClientDeleted, ClientID: id, Actor: actor})
	after := ""
	for {
		page, err := s.grants.ListGrants(ctx, store.GrantFilter{ClientID: id}, after, 100)
		if err != nil {
			return storeErr(err)
		}
		for _, g := range page {
			if !g.RevokedAt.IsZero() {
				continue
			}
			if err := s.revokeGrant(ctx, g, actor); err != nil {
				return err
			}
		}
		if len(page) < 100 {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// revokeGrant ends g and everything issued from it through the authority,
// the path /revoke takes for a refresh token.
func (s *Server) revokeGrant(ctx context.Context, g *store.GrantRecord, actor string) error {
	if err := s.endGrant(ctx, g.ID); err != nil {
		return storeErr(err)
	}
	s.emit(ctx, Event{Type: EventGrantRevoked, ClientID: g.ClientID, Subject: g.Subject, GrantID: g.ID, Actor: actor})
	s.revoked(ctx, "", g.ID)
	return nil
}
