package mcpauth

// This file implements agent delegation: the RFC 8693 token exchange grant
// at the token endpoint. An agent holding an access token this server
// issued exchanges it for a narrower token for a sub-agent; the new token
// stands for a new grant that is a child of the first (Grantex SPEC §9), so
// revoking any grant ends every grant delegated from it.

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/store"
)

// RFC 8693 identifiers.
const (
	// grantTypeTokenExchange is RFC 8693 §2.1's grant_type.
	grantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeAccessToken is RFC 8693 §3's token type of an access token:
	// the only subject_token_type accepted and the issued_token_type.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	// TokenTypeAgentID is the actor_token_type of an actor_token that names
	// the sub-agent the token is delegated to (a DID such as
	// did:grantex:ag_…, or another identifier of at most 256 printable
	// characters), as Grantex's subAgentId does. The exchanging client
	// vouches for the name; it lands in the act claim (RFC 8693 §4.1).
	TokenTypeAgentID = "urn:mcpauth:params:oauth:token-type:agent-id"
)

// Delegation depth bounds (Grantex SPEC §9).
const (
	// DefaultMaxDelegationDepth is Config.MaxDelegationDepth's default.
	DefaultMaxDelegationDepth = 3
	// MaxDelegationDepthLimit is the Grantex hard cap on delegation depth.
	MaxDelegationDepthLimit = 10
)

// DelegationRequest is what a [Config.DelegationPolicy] decides on: a client
// asking to exchange an access token (RFC 8693 §2.1) for a sub-agent.
type DelegationRequest struct {
	// Client is the authenticated client asking for the exchange.
	Client store.Client
	// Subject is the verified subject_token: the grant being delegated.
	Subject *Grant
	// Actor names the sub-agent (the actor_token), or the client's id
	// when none was sent.
	Actor string
	// Scopes are the scopes the delegated token will carry.
	Scopes []string
	// Depth is the delegated token's delegationDepth.
	Depth int
}

// delegationDefaults applies MaxDelegationDepth's default and bound.
func (c *Config) delegationDefaults() error {
	setDefault(&c.MaxClientAssertionLifetime, defaultMaxClientAssertionLifetime)
	if c.MaxClientAssertionLifetime < 0 {
		return configErr("MaxClientAssertionLifetime", "must not be negative")
	}
	switch {
	case c.MaxDelegationDepth == 0:
		c.MaxDelegationDepth = DefaultMaxDelegationDepth
	case c.MaxDelegationDepth > MaxDelegationDepthLimit:
		return configErr("MaxDelegationDepth", "%d exceeds the hard cap of %d", c.MaxDelegationDepth, MaxDelegationDepthLimit)
	}
	return nil
}

// tokenExchangeEnabled: token exchange is served by the local authority
// unless MaxDelegationDepth turned it off.
func (s *Server) tokenExchangeEnabled() bool {
	if s.cfg.MaxDelegationDepth <= 0 {
		return false
	}
	_, managed := s.grantexDelegation()
	return s.cfg.Grantex.Client == nil || managed
}

// tokenExchangeGrant implements RFC 8693 §2.1-§2.2 for delegation.
func (s *Server) tokenExchangeGrant(ctx context.Context, params url.Values, client *store.Client) (*tokenResponse, error) {
	subjectToken := params.Get("subject_token")
	switch {
	case subjectToken == "":
		return nil, oauth.InvalidRequest("subject_token is required")
	case params.Get("subject_token_type") != TokenTypeAccessToken:
		return nil, oauth.InvalidRequest("subject_token_type must be %s", TokenTypeAccessToken)
	case params.Get("requested_token_type") != "" && params.Get("requested_token_type") != TokenTypeAccessToken:
		return nil, oauth.InvalidRequest("only %s can be issued", TokenTypeAccessToken)
	case len(params["subject_token"]) > 1 || len(params["actor_token"]) > 1 || len(params["scope"]) > 1:
		return nil, oauth.InvalidRequest("subject_token, actor_token and scope may be sent once each")
	}
	actor, err := exchangeActor(params, client)
	if err != nil {
		return nil, err
	}
	parent, err := s.authority.verify(ctx, subjectToken)
	switch {
	case errors.Is(err, ErrInvalidToken):
		return nil, oauth.InvalidGrant("the subject_token is invalid, expired or revoked")
	case err != nil:
		return nil, storeErr(err)
	}
	depth := parent.DelegationDepth + 1
	if depth > s.cfg.MaxDelegationDepth {
		return nil, oauth.InvalidGrant("delegation depth %d exceeds the maximum of %d", depth, s.cfg.MaxDelegationDepth)
	}
	scopes := parent.Scopes
	if raw := params.Get("scope"); raw != "" {
		if scopes = parseScope(raw); !isSubset(scopes, parent.Scopes) {
			return nil, oauth.InvalidScope("the requested scope exceeds the subject_token's scope")
		}
	}
	if pol := s.cfg.DelegationPolicy; pol != nil {
		if err := pol(ctx, DelegationRequest{Client: *client, Subject: parent, Actor: actor, Scopes: scopes, Depth: depth}); err != nil {
			return nil, oauth.InvalidGrant("delegation refused: %s", truncate(err.Error(), 200))
		}
	} else if owner, err := s.tokenOwner(ctx, parent); err != nil {
		return nil, storeErr(err)
	} else if owner != client.ID {
		return nil, oauth.InvalidGrant("the subject_token was issued to another client")
	}
	rec, err := s.grants.GetGrant(ctx, parent.GrantID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the subject_token's grant has expired")
	case err != nil:
		return nil, storeErr(err)
	case !rec.RevokedAt.IsZero():
		return nil, oauth.InvalidGrant("the subject_token's grant has been revoked")
	}
	if err := s.checkTokenResource(params, rec.Resource); err != nil {
		return nil, err
	}
	if aud := params["audience"]; len(aud) > 1 || len(aud) == 1 && aud[0] != s.audience(rec.Resource) {
		return nil, oauth.InvalidTarget("audience must be the subject_token's audience")
	}
	if d, ok := s.grantexDelegation(); ok {
		return s.delegateGrantex(ctx, d, client, subjectToken, parent, rec, actor, params.Get("actor_token") != "", scopes)
	}
	return s.delegate(ctx, client, parent, rec, actor, scopes, depth)
}

// exchangeActor is the sub-agent the token is delegated to (RFC 8693 §2.1
// actor_token), or the client itself.
func exchangeActor(params url.Values, client *store.Client) (string, error) {
	actor, typ := params.Get("actor_token"), params.Get("actor_token_type")
	switch {
	case actor == "" && typ == "":
		return client.ID, nil
	case actor == "":
		return "", oauth.InvalidRequest("actor_token_type must not be sent without actor_token")
	case typ == "":
		return "", oauth.InvalidRequest("actor_token_type is required with actor_token")
	case typ != TokenTypeAgentID:
		return "", oauth.InvalidRequest("actor_token_type must be %s", TokenTypeAgentID)
	case len(actor) > 256 || !utf8.ValidString(actor) || strings.ContainsFunc(actor, func(r rune) bool { return r < 0x21 || r == 0x7f }):
		return "", oauth.InvalidRequest("actor_token must be an agent identifier of at most 256 printable characters")
	}
	return actor, nil
}

// delegate signs the delegated token and then creates its grant as a child
// of the parent's: the store refuses the child once the parent is revoked,
// so a token is answered only if its grant was created while the parent
// was live, and a later revocation of the parent reaches it.
func (s *Server) delegate(ctx context.Context, client *store.Client, parent *Grant, rec *store.GrantRecord, actor string, scopes []string, depth int) (*tokenResponse, error) {
	now := s.now()
	child := &store.GrantRecord{ID: "grnt_" + uuid.NewString(), ClientID: client.ID, Subject: parent.Subject, Scopes: scopes,
		Resource: rec.Resource, CreatedAt: now, ExpiresAt: rec.ExpiresAt}
	// RFC 8693 §4.1: a prior delegation nests inside the new act claim.
	act := map[string]any{"sub": actor}
	if prior, ok := parent.Raw["act"].(map[string]any); ok {
		act["act"] = prior
	}
	agt := actor
	if !strings.HasPrefix(agt, "did:") {
		agt = "did:grantex:" + agt
	}
	// exp ≤ the parent token's exp: the grant end passed to signClaims has
	// the leeway taken off again.
	end := rec.ExpiresAt
	if pe := parent.ExpiresAt.Add(clockLeeway); pe.Before(end) {
		end = pe
	}
	// The child spends its ancestors' budget; it has none of its own yet.
	bdg, err := s.budgetClaim(ctx, parent.GrantID)
	if err != nil {
		return nil, storeErr(err)
	}
	token, jti, exp, err := s.signClaims(ctx, accessClaims{Subject: parent.Subject, Audience: s.audience(rec.Resource),
		ClientID: client.ID, Scp: scopes, AgentDID: agt, GrantID: child.ID, DelegationDepth: depth, Act: act,
		ParentAgt: parent.AgentDID, ParentGrnt: parent.GrantID, Budget: bdg}, end)
	switch {
	case errors.Is(err, errGrantEnded):
		return nil, oauth.InvalidGrant("the subject_token expires too soon to be delegated")
	case err != nil:
		return nil, storeErr(err)
	}
	switch err := s.grants.CreateDelegatedGrant(ctx, parent.GrantID, child); {
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the subject_token's grant has been revoked")
	case err != nil:
		return nil, storeErr(err)
	}
	s.emit(ctx, Event{Type: EventGrantDelegated, ClientID: client.ID, Subject: parent.Subject, GrantID: child.ID, TokenID: jti, Scopes: scopes})
	return &tokenResponse{
		AccessToken: token, TokenType: "Bearer", IssuedTokenType: TokenTypeAccessToken,
		ExpiresIn: int64(exp.Sub(now).Round(time.Second) / time.Second), Scope: strings.Join(scopes, " "),
		tokenID: jti, expiresAt: exp, grantID: child.ID, subject: parent.Subject, scopes: scopes, agentDID: agt,
	}, nil
}

// RevokeGrant revokes a grant and, atomically, every grant delegated from
// it (Grantex SPEC §9: DELETE /v1/grants/:id): their access and refresh
// tokens stop working at once, in every replica and in token caches told
// through SubscribeRevocations. Revoking an unknown or revoked grant is not
// an error.
func (s *Server) RevokeGrant(ctx context.Context, grantID string) error {
	if err := s.endGrant(ctx, grantID); err != nil {
		return err
	}
	s.emit(ctx, Event{Type: EventGrantRevoked, GrantID: grantID})
	s.revoked(ctx, "", grantID)
	return nil
}

// revokeTree revokes a grant's subtree in the store and tells token caches
// about every grant in it (the caller tells them about grantID itself).
func (s *Server) revokeTree(ctx context.Context, grantID string) error {
	tree, err := s.grants.RevokeGrantTree(ctx, grantID, s.now())
	if err != nil {
		return err
	}
	for _, id := range tree {
		if id == grantID {
			continue // the caller feeds and publishes the root
		}
		// Remote verifiers learn of descendants from the feed: their tokens
		// carry their own grant id.
		if err := s.feedGrant(ctx, id); err != nil {
			s.log.ErrorContext(ctx, "mcpauth: feeding a delegated grant's revocation", "grant_id", id, "err", err)
		}
		s.publishRevocation("", id)
	}
	return nil
}
