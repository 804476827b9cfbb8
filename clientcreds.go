package mcpauth

// This file implements the client_credentials grant (OAuth 2.1 §4.2) for
// machine clients: confidential clients the operator configured in
// Config.StaticClients with the client_credentials grant type. Dynamic
// registration never grants it (anyone can register).

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/store"
)

// grantTypeClientCredentials is OAuth 2.1 §4.2's grant_type.
const grantTypeClientCredentials = "client_credentials"

// clientCredentialsEnabled: a configured client may use the grant (local
// authority only: Grantex issues no tokens without a user).
func (s *Server) clientCredentialsEnabled() bool {
	if s.cfg.Grantex.Client != nil {
		return false
	}
	for _, c := range s.static {
		if c.HasGrantType(grantTypeClientCredentials) && !c.IsPublic() {
			return true
		}
	}
	return false
}

// clientCredentialsGrant issues an access token to the client itself (sub =
// client id) for scopes within the client's configured Scope, with no
// refresh token (OAuth 2.1 §4.2.2). Each token has a grant of its own, so
// revocation and introspection treat it like any other.
func (s *Server) clientCredentialsGrant(ctx context.Context, params url.Values, client *store.Client) (*tokenResponse, error) {
	if st, ok := s.static[client.ID]; !ok || client.IsPublic() || !st.HasGrantType(grantTypeClientCredentials) {
		return nil, oauth.UnauthorizedClient("this client may not use the client_credentials grant")
	}
	allowed := parseScope(client.Scope)
	scopes := allowed
	if raw := params.Get("scope"); raw != "" {
		if scopes = parseScope(raw); !isSubset(scopes, allowed) {
			return nil, oauth.InvalidScope("the requested scope exceeds the scope configured for this client")
		}
	}
	resource, err := s.requestedResource(params["resource"])
	if err != nil {
		return nil, err
	}
	now := s.now()
	// The grant outlives the token by the leeway, so the token's exp is
	// not cut short (signAccessTokenUntil).
	g := &store.GrantRecord{ID: "grnt_" + uuid.NewString(), ClientID: client.ID, Subject: client.ID, Scopes: slices.Clone(scopes),
		Resource: resource, CreatedAt: now, ExpiresAt: now.Add(s.cfg.AccessTokenTTL + 2*clockLeeway + time.Second)}
	if err := s.grants.CreateGrant(ctx, g); err != nil {
		return nil, storeErr(err)
	}
	resp, err := (&localAuthority{s: s}).accessToken(ctx, client.ID, client.ID, g.ID, resource, scopes, g.ExpiresAt)
	if err != nil {
		var oe *oauth.Error
		if errors.As(err, &oe) {
			return nil, oe
		}
		return nil, storeErr(err)
	}
	return resp, nil
}

// machineClient: a configured client whose only grant type is
// client_credentials needs no redirect URIs, but must be confidential.
func machineClient(cl *store.Client) bool {
	return len(cl.GrantTypes) > 0 && !slices.ContainsFunc(cl.GrantTypes, func(g string) bool { return g != grantTypeClientCredentials }) &&
		(cl.ClientSecret != "" || cl.TokenEndpointAuthMethod == authMethodPrivateKeyJWT)
}
