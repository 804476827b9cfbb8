package mcpauth

// This file implements the grant policy: which requested scopes a user may
// grant a client (RFC 6749 §3.3).

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/store"
)

// GrantRequest is what a [Config.GrantPolicy] decides on: who signed in,
// which client asks, and for which scopes and resource.
type GrantRequest struct {
	// User is the signed-in resource owner, with the Claims its
	// Authenticator attached (an OIDC sign-in can map groups to scopes).
	User User
	// Client is the client the grant is for.
	Client store.Client
	// Scopes are the requested scopes after defaults were applied (RFC 6749
	// §3.3); offline_access is among them when the client asked for it.
	Scopes []string
	// Resource is the RFC 8707 resource indicator, "" when none applies.
	Resource string
}

// Errors a [Config.GrantPolicy] returns (wrapped or not) to end an
// authorization request. The client receives the matching RFC 6749 §4.1.2.1
// error at its redirect URI; the error's text goes only to the server log.
var (
	// ErrAccessDenied ends the request with access_denied.
	ErrAccessDenied = errors.New("mcpauth: access denied by the grant policy")
	// ErrInvalidScope ends the request with invalid_scope.
	ErrInvalidScope = errors.New("mcpauth: scope not grantable by the grant policy")
)

// grantableScopes applies User.AllowedScopes and then Config.GrantPolicy to
// a pending authorization: the requested scopes both allow, in request order.
// A sign-in that allows none of them is access_denied. The policy can
// only narrow: scopes it returns that were not requested are ignored. A
// policy that leaves nothing of a request (offline_access alone is nothing:
// it grants no access) fails the request with invalid_scope.
//
// It runs when the consent page is built and again when the grant is made,
// so the page shows only grantable scopes and a policy that changed in
// between (an operator removed) is obeyed at issuance.
func (s *Server) grantableScopes(ctx context.Context, user User, client *store.Client, p *store.PendingAuthorization) ([]string, error) {
	requested := p.Scopes
	if user.AllowedScopes != nil {
		// The sign-in's own limit (User.AllowedScopes) first; offline_access
		// is about refresh, not a permission on the resource, and stays.
		requested = slices.DeleteFunc(slices.Clone(p.Scopes), func(sc string) bool {
			return sc != scopeOfflineAccess && !slices.Contains(user.AllowedScopes, sc)
		})
		if !grantsAccess(requested) {
			return nil, oauth.AccessDenied("this account may not be granted any of the requested scopes")
		}
	}
	policy := s.cfg.GrantPolicy
	if policy == nil {
		return requested, nil
	}
	req := GrantRequest{User: user, Client: *client, Scopes: slices.Clone(requested), Resource: p.Resource}
	req.User.Claims = maps.Clone(user.Claims)
	allowed, err := policy(ctx, req)
	switch {
	case errors.Is(err, ErrInvalidScope):
		return nil, oauth.InvalidScope("the requested scopes may not be granted to this account").WithCause(err)
	case errors.Is(err, ErrAccessDenied):
		return nil, oauth.AccessDenied("this account may not grant this request").WithCause(err)
	case err != nil:
		return nil, oauth.ServerError("the grant policy could not be applied").WithCause(err)
	}
	out := make([]string, 0, len(requested))
	for _, sc := range requested {
		if slices.Contains(allowed, sc) {
			out = append(out, sc)
		}
	}
	if !grantsAccess(out) && grantsAccess(requested) {
		return nil, oauth.InvalidScope("none of the requested scopes may be granted to this account")
	}
	if dropped := len(requested) - len(out); dropped > 0 {
		s.log.InfoContext(ctx, "mcpauth: grant policy dropped requested scopes", "client_id", client.ID, "sub", user.Subject,
			"requested", requested, "granted", out)
	}
	return out, nil
}

// grantsAccess reports whether scopes hold anything besides offline_access.
func grantsAccess(scopes []string) bool {
	return slices.ContainsFunc(scopes, func(sc string) bool { return sc != scopeOfflineAccess })
}
