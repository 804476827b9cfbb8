package mcpauth

// This file serves agent delegation in managed mode: the RFC 8693 token
// exchange goes to Grantex's POST /v1/grants/delegate, and the child grant
// is mirrored here as a child of the parent's mirror, so local revocation
// and token ownership work as for the local authority.

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/grantex"
	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/store"
)

// grantexDelegator is the part of the Grantex API delegation needs;
// *grantex.Client has it. A GrantexClient without it serves no token
// exchange.
type grantexDelegator interface {
	Delegate(ctx context.Context, p grantex.DelegateParams) (*grantex.Token, error)
}

// grantexDelegation reports whether managed mode can delegate.
func (s *Server) grantexDelegation() (grantexDelegator, bool) {
	if s.cfg.Grantex.Client == nil {
		return nil, false
	}
	d, ok := s.cfg.Grantex.Client.(grantexDelegator)
	return d, ok
}

// delegateGrantex asks Grantex for the child grant (Grantex checks the
// parent, the scopes and its own depth cap again) and mirrors it.
func (s *Server) delegateGrantex(ctx context.Context, d grantexDelegator, client *store.Client, subjectToken string, parent *Grant, rec *store.GrantRecord, actor string, actorGiven bool, scopes []string) (*tokenResponse, error) {
	sub := strings.TrimPrefix(actor, "did:grantex:")
	if !actorGiven {
		sub = s.cfg.Grantex.AgentID
	}
	now := s.now()
	ttl := max(parent.ExpiresAt.Sub(now), time.Second)
	tok, err := d.Delegate(ctx, grantex.DelegateParams{ParentGrantToken: subjectToken, SubAgentID: sub, Scopes: scopes,
		ExpiresIn: strconv.FormatInt(int64(ttl/time.Second), 10) + "s"})
	if err != nil {
		return nil, delegateErr(err)
	}
	child := &store.GrantRecord{ID: tok.GrantID, ClientID: client.ID, Subject: parent.Subject, Scopes: tok.Scopes,
		Resource: rec.Resource, CreatedAt: now, ExpiresAt: rec.ExpiresAt, UpstreamGrantID: tok.GrantID}
	if err := s.grants.CreateDelegatedGrant(ctx, parent.GrantID, child); err != nil {
		// The parent was revoked here meanwhile: end the child at Grantex too.
		if rerr := s.cfg.Grantex.Client.RevokeGrant(context.WithoutCancel(ctx), tok.GrantID); rerr != nil {
			s.log.Error("mcpauth: revoking an orphaned Grantex delegation", "grant_id", tok.GrantID, "err", rerr)
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, oauth.InvalidGrant("the subject_token's grant has been revoked")
		}
		return nil, storeErr(err)
	}
	claims := unverifiedClaims(tok.GrantToken)
	jti, _ := claims["jti"].(string)
	s.emit(ctx, Event{Type: EventGrantDelegated, ClientID: client.ID, Subject: parent.Subject, GrantID: tok.GrantID, TokenID: jti, Scopes: tok.Scopes})
	return &tokenResponse{
		AccessToken: tok.GrantToken, TokenType: "Bearer", IssuedTokenType: TokenTypeAccessToken,
		ExpiresIn: max(int64(tok.ExpiresAt.Sub(now)/time.Second), 1), Scope: strings.Join(tok.Scopes, " "),
		tokenID: jti, expiresAt: tok.ExpiresAt, grantID: tok.GrantID, subject: parent.Subject, scopes: tok.Scopes,
		agentDID: "did:grantex:" + sub,
	}, nil
}

// delegateErr maps Grantex's delegation errors (POST /v1/grants/delegate) to OAuth's.
func delegateErr(err error) error {
	var ae *grantex.APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Code == "DELEGATION_DEPTH_EXCEEDED":
			// Grantex's message names the depth and the cap.
			msg := "delegation depth exceeds Grantex's maximum"
			if m := ae.Message; len(m) > 0 && len(m) <= 200 {
				msg = strings.ToLower(m[:1]) + m[1:]
			}
			return oauth.InvalidGrant("%s", msg).WithCause(err)
		case ae.StatusCode == http.StatusBadRequest && strings.Contains(ae.Message, "cope"):
			return oauth.InvalidScope("the requested scope exceeds the subject_token's scope").WithCause(err)
		case ae.StatusCode == http.StatusBadRequest, ae.StatusCode == http.StatusForbidden:
			return oauth.InvalidGrant("Grantex refused the delegation: the subject_token is invalid, expired, revoked or not yours").WithCause(err)
		case ae.StatusCode == http.StatusNotFound:
			return oauth.InvalidRequest("the sub-agent named by actor_token is unknown to Grantex").WithCause(err)
		}
	}
	return grantexErr(err, "delegate")
}
