package mcpauth

// This file implements RFC 7662, OAuth 2.0 Token Introspection.

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/secret"
	"github.com/mcpauth/mcpauth/store"
)

// introspection is the RFC 7662 §2.2 answer plus the Grantex fields.
type introspection struct {
	Active          bool     `json:"active"`
	Scope           string   `json:"scope,omitempty"`
	ClientID        string   `json:"client_id,omitempty"`
	Subject         string   `json:"sub,omitempty"`
	Expiry          int64    `json:"exp,omitempty"`
	IssuedAt        int64    `json:"iat,omitempty"`
	Issuer          string   `json:"iss,omitempty"`
	Audience        []string `json:"aud,omitempty"`
	TokenID         string   `json:"jti,omitempty"`
	TokenType       string   `json:"token_type,omitempty"`
	AgentDID        string   `json:"grantex_agent_did,omitempty"`
	GrantID         string   `json:"grantex_grant_id,omitempty"`
	DelegationDepth *int     `json:"grantex_delegation_depth,omitempty"`
	DeveloperID     string   `json:"grantex_developer_id,omitempty"`
	ParentAgentDID  string   `json:"grantex_parent_agent,omitempty"`
	Budget          any      `json:"grantex_budget_remaining,omitempty"`
}

// handleIntrospect implements RFC 7662. Client authentication is required
// unless Config.AllowAnonymousIntrospection. Revoked, expired, foreign and
// malformed tokens are all {"active": false}, and so is a live token the
// caller may not see (§2.2, §4): only its own client and the resource
// servers in Config.Introspectors see it.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) error {
	params, err := readParams(w, r, true)
	if err != nil {
		return err
	}
	client, err := s.authenticateClient(r, params, s.cfg.AllowAnonymousIntrospection)
	if err != nil {
		return err
	}
	// A public client's client_id is no credential: the metadata advertises
	// none for introspection only when anonymous introspection is allowed.
	if client != nil && client.IsPublic() && !s.cfg.AllowAnonymousIntrospection {
		return oauth.InvalidClient("introspection requires a confidential client's credentials")
	}
	token := params.Get("token")
	if token == "" {
		return oauth.InvalidRequest("token is required")
	}
	resp, err := s.introspect(r.Context(), token, params.Get("token_type_hint"))
	if err != nil {
		return storeErr(err)
	}
	if resp.Active {
		ok, err := s.mayIntrospect(r.Context(), client, resp)
		if err != nil {
			return storeErr(err)
		}
		if !ok {
			s.log.InfoContext(r.Context(), "mcpauth: introspection of another client's token answered inactive",
				"client_id", client.ID, "token_client_id", resp.ClientID, "grant_id", resp.GrantID)
			resp = &introspection{}
		}
	}
	writeJSON(w, http.StatusOK, resp, "no-store")
	return nil
}

// mayIntrospect reports whether caller may learn about the live token
// described by resp (RFC 7662 §4: the server decides which protected
// resources may see which tokens). The token's own client and the operator's
// designated resource servers (Config.Introspectors) may; with
// Config.AllowAnonymousIntrospection anyone may, as the credentials are
// optional there and withholding from an authenticated client would only
// make it drop them. The owner is found as for revocation ([Server.tokenOwner]).
func (s *Server) mayIntrospect(ctx context.Context, caller *store.Client, resp *introspection) (bool, error) {
	if s.cfg.AllowAnonymousIntrospection {
		return true, nil
	}
	if caller == nil {
		return false, nil
	}
	if slices.Contains(s.cfg.Introspectors, caller.ID) {
		return true, nil
	}
	owner, err := s.tokenOwner(ctx, &Grant{ClientID: resp.ClientID, GrantID: resp.GrantID})
	if err != nil {
		return false, err
	}
	return owner != "" && owner == caller.ID, nil
}

func (s *Server) introspect(ctx context.Context, token, hint string) (*introspection, error) {
	if isJWT(token) {
		g, err := s.authority.verify(ctx, token)
		switch {
		case errors.Is(err, ErrInvalidToken):
			return &introspection{}, nil
		case err != nil:
			return nil, err
		}
		depth := g.DelegationDepth
		resp := &introspection{
			Active: true, Scope: strings.Join(g.Scopes, " "), ClientID: g.ClientID, Subject: g.Subject,
			Expiry: g.ExpiresAt.Unix(), IssuedAt: g.IssuedAt.Unix(), Issuer: g.Issuer, Audience: g.Audience,
			TokenID: g.TokenID, TokenType: "Bearer", AgentDID: g.AgentDID, GrantID: g.GrantID,
			DelegationDepth: &depth, DeveloperID: g.DeveloperID, ParentAgentDID: g.ParentAgentDID, Budget: g.Raw["bdg"],
		}
		if err := s.liveBudget(ctx, resp); err != nil {
			return nil, err
		}
		return resp, nil
	}
	if len(token) > 512 {
		return &introspection{}, nil
	}
	rec, err := s.grants.GetRefresh(ctx, secret.Digest(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &introspection{}, nil
	case err != nil:
		return nil, err
	}
	return &introspection{
		Active: true, Scope: strings.Join(rec.Scopes, " "), ClientID: rec.ClientID, Subject: rec.Subject,
		Expiry: rec.ExpiresAt.Unix(), IssuedAt: rec.IssuedAt.Unix(), Issuer: s.cfg.Issuer, TokenType: "refresh_token",
		GrantID: rec.GrantID, Audience: nonEmpty(rec.Resource),
	}, nil
}

func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func durationSeconds(n int64) time.Duration { return time.Duration(n) * time.Second }
