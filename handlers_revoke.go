package mcpauth

// This file implements RFC 7009, OAuth 2.0 Token Revocation.

import (
	"context"
	"errors"
	"net/http"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/secret"
	"github.com/mcpauth/mcpauth/store"
)

// handleRevoke implements RFC 7009. The client must authenticate (public
// clients with their client_id). An access token is deny-listed until it
// expires; a refresh token ends its whole grant. Tokens of other clients
// (and tokens whose client cannot be established), unknown and malformed
// tokens are left alone and answered 200: RFC 7009 §2.1 has the server
// verify the token was issued to the requesting client, and §2.2 answers
// 200 for tokens the client cannot usefully act on, which also tells a
// client nothing about other clients' tokens.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) error {
	params, err := readParams(w, r, true)
	if err != nil {
		return err
	}
	client, err := s.authenticateClient(r, params, false)
	if err != nil {
		return err
	}
	token := params.Get("token")
	if token == "" {
		return oauth.InvalidRequest("token is required")
	}
	if err := s.revoke(r.Context(), client, token, params.Get("token_type_hint")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{}, "no-store")
	return nil
}

func (s *Server) revoke(ctx context.Context, client *store.Client, token, hint string) error {
	if isJWT(token) {
		g, err := s.authority.verify(ctx, token)
		switch {
		case errors.Is(err, ErrInvalidToken):
			return nil // unknown, expired, foreign or already revoked
		case err != nil:
			return storeErr(err)
		}
		owner, err := s.tokenOwner(ctx, g)
		if err != nil {
			return storeErr(err)
		}
		if owner != client.ID {
			s.log.Warn("mcpauth: client tried to revoke a token it does not own", "client_id", client.ID, "owner", owner, "jti", g.TokenID)
			return nil
		}
		// The feed first: no revocation is answered without its event.
		if err := s.feedAppend(ctx, g.TokenID, "", g.ExpiresAt.Add(clockLeeway)); err != nil {
			return storeErr(err)
		}
		if err := s.authority.revokeAccess(ctx, g); err != nil {
			return storeErr(err)
		}
		s.emit(ctx, Event{Type: EventTokenRevoked, ClientID: client.ID, Subject: g.Subject, GrantID: g.GrantID, TokenID: g.TokenID})
		s.revoked(ctx, g.TokenID, "")
		return nil
	}
	if len(token) > 512 {
		return nil
	}
	rec, err := s.grants.GetRefresh(ctx, secret.Digest(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return storeErr(err)
	}
	if rec.ClientID != client.ID {
		s.log.Warn("mcpauth: client tried to revoke another client's refresh token", "client_id", client.ID, "grant_id", rec.GrantID)
		return nil
	}
	if err := s.endGrant(ctx, rec.GrantID); err != nil {
		return storeErr(err)
	}
	s.emit(ctx, Event{Type: EventGrantRevoked, ClientID: client.ID, Subject: rec.Subject, GrantID: rec.GrantID})
	s.revoked(ctx, "", rec.GrantID)
	return nil
}

// tokenOwner is the client an access token was issued to: its client_id
// claim, or for Grantex tokens (which carry none) the client of the grant
// recorded here under Grantex's grant id (grnt). "" means unknown: such a
// token is owned by no client.
func (s *Server) tokenOwner(ctx context.Context, g *Grant) (string, error) {
	if g.ClientID != "" {
		return g.ClientID, nil
	}
	if g.GrantID == "" {
		return "", nil
	}
	rec, err := s.grants.GetGrant(ctx, g.GrantID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	}
	if rec.UpstreamGrantID != g.GrantID {
		return "", nil // not the mirror of a Grantex grant
	}
	return rec.ClientID, nil
}

// endGrant revokes a grant and its delegated subtree through the authority,
// after putting the revocation in the feed, so that no revocation is
// answered before remote verifiers can learn of it. Every path that ends a
// grant goes through here: /revoke, replay detection, RFC 7592 and admin
// deletion, and Server.RevokeGrant.
func (s *Server) endGrant(ctx context.Context, grantID string) error {
	if err := s.feedGrant(ctx, grantID); err != nil {
		return err
	}
	return s.authority.revokeGrant(ctx, grantID)
}
