package mcpauth

// This file implements the local authority: our consent page, RFC 9068
// access tokens signed with our keys, refresh token rotation with reuse
// detection (OAuth 2.1 §4.3.1) and revocation in the GrantStore.

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/internal/display"
	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/secret"
	"github.com/mcpauth/mcpauth/internal/ui"
	"github.com/mcpauth/mcpauth/store"
)

// localAuthority is the embedded default: our own consent page, our own
// signing keys, refresh tokens and revocations kept in the GrantStore.
type localAuthority struct{ s *Server }

func (a *localAuthority) jwksURI() string { return a.s.endpoint(pathJWKS) }

// consent is our consent page, or the code at once when the Authenticator
// consents for the user ([ConsentingAuthenticator]).
func (a *localAuthority) consent(ctx context.Context, req consentRequest) (step, error) {
	s, p, client, user, pendingID := a.s, req.p, req.client, req.user, req.pendingID
	if req.autoApprove {
		return s.approve(ctx, req)
	}
	// Only what the grant policy allows is shown; approve applies it again.
	scopes, err := s.grantableScopes(ctx, user, client, p)
	if err != nil {
		return step{}, s.failPending(ctx, pendingID, p, err)
	}
	csrf, err := s.csrfToken(ctx, "consent", pendingID, user.Subject)
	if err != nil {
		return step{}, noRedirect(storeErr(err))
	}
	target := s.redirectTarget(ctx, p)
	if target == "" {
		return step{}, noRedirect(oauth.InvalidRequest("the application's redirect URI changed during sign-in; return to the application and start again"))
	}
	page := ui.Consent{
		Brand: s.brand(), Action: s.basePath + pathConsent, RequestID: pendingID, CSRF: csrf,
		ClientName: client.Name, ClientURI: client.ClientURI, RedirectHost: redirectHost(target), RedirectURI: target,
		Resource: displayURL(p.Resource), UserName: user.Name, LoopbackOnly: allNative(client.RedirectURIs),
		Unverified: !s.trustedRedirect(client),
	}
	if !display.Safe(page.ClientName) {
		page.ClientName = "" // stored before names were checked: "an application"
	}
	if u, err := url.Parse(client.ClientURI); err == nil && client.ClientURI != "" {
		page.ClientURIHost = display.PrepareHost(u.Host)
	}
	if s.cimdEnabled() && strings.HasPrefix(client.ID, "https://") && !s.trustedRedirect(client) {
		if u, err := url.Parse(client.ID); err == nil {
			page.ClientIDHost = display.PrepareHost(u.Host)
		}
	}
	if len(s.users) > 0 {
		page.SignOutAction = s.basePath + pathLogout
	}
	for _, sc := range scopes {
		desc := s.cfg.ScopeDescriptions[sc]
		if sc == scopeOfflineAccess && desc == "" {
			desc = "Stay signed in: keep access when you are not using it"
		}
		page.Scopes = append(page.Scopes, ui.Scope{Name: sc, Description: desc})
	}
	return step{page: &page, formTo: redirectOrigin(target)}, nil
}

// approve issues the code for a request the user approved on our page.
func (a *localAuthority) approve(ctx context.Context, req consentRequest) (step, error) {
	return a.s.approve(ctx, req)
}

// exchange signs an access token and, when the client may refresh, starts a
// refresh token family for the grant. The caller stores both with the code's
// redemption.
func (a *localAuthority) exchange(ctx context.Context, _ string, rec *store.CodeRecord, client *store.Client) (*tokenResponse, *store.Redemption, error) {
	end, err := a.grantEnd(ctx, rec.GrantID)
	if err != nil {
		return nil, nil, err
	}
	resp, err := a.accessToken(ctx, client.ID, rec.Subject, rec.GrantID, rec.Resource, rec.Scopes, end)
	if err != nil {
		return nil, nil, err
	}
	red := &store.Redemption{}
	if issuesRefresh(client, rec.Scopes) {
		rt := secret.New("rt_")
		now := a.s.now()
		red.RefreshDigest = secret.Digest(rt)
		red.Refresh = &store.RefreshRecord{
			GrantID: rec.GrantID, ClientID: client.ID, Subject: rec.Subject, Scopes: rec.Scopes,
			Resource: rec.Resource, IssuedAt: now, ExpiresAt: now.Add(a.s.cfg.RefreshTokenTTL),
			AccessTokenID: resp.tokenID, AccessExpiresAt: resp.expiresAt.Add(clockLeeway),
		}
		resp.RefreshToken = rt
	}
	return resp, red, nil
}

// grantEnd returns when a live grant expires: the latest any of its access
// tokens may be valid, since its revocation tombstone lasts no longer.
func (a *localAuthority) grantEnd(ctx context.Context, grantID string) (time.Time, error) {
	g, err := a.s.grants.GetGrant(ctx, grantID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return time.Time{}, oauth.InvalidGrant("the authorization grant has expired")
	case err != nil:
		return time.Time{}, storeErr(err)
	case !g.RevokedAt.IsZero():
		return time.Time{}, oauth.InvalidGrant("the authorization grant has been revoked")
	}
	return g.ExpiresAt, nil
}

// issuesRefresh: the client registered the refresh_token grant or asked for
// offline_access (MCP 2026-07-28 §Refresh Tokens).
func issuesRefresh(client *store.Client, scopes []string) bool {
	return client.HasGrantType("refresh_token") || slices.Contains(scopes, scopeOfflineAccess)
}

func (a *localAuthority) accessToken(ctx context.Context, clientID, subject, grantID, resource string, scopes []string, grantEnd time.Time) (*tokenResponse, error) {
	token, jti, exp, err := a.s.signAccessTokenUntil(ctx, clientID, subject, grantID, a.s.audience(resource), scopes, grantEnd)
	if errors.Is(err, errGrantEnded) {
		return nil, oauth.InvalidGrant("the authorization grant has expired")
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return &tokenResponse{
		AccessToken: token, TokenType: "Bearer", ExpiresIn: int64(exp.Sub(a.s.now()).Round(time.Second) / time.Second),
		Scope: strings.Join(scopes, " "), tokenID: jti, expiresAt: exp, grantID: grantID, subject: subject, scopes: scopes,
		agentDID: "did:grantex:" + a.s.cfg.Grantex.AgentID,
	}, nil
}

// refresh signs a new access token and rotates the refresh token (one
// winner); signing comes first, so nothing fails after the rotation.
func (a *localAuthority) refresh(ctx context.Context, token string, rec *store.RefreshRecord, client *store.Client, scopes []string) (*tokenResponse, error) {
	end, err := a.grantEnd(ctx, rec.GrantID)
	if err != nil {
		return nil, err
	}
	resp, err := a.accessToken(ctx, client.ID, rec.Subject, rec.GrantID, rec.Resource, scopes, end)
	if err != nil {
		return nil, err
	}
	now := a.s.now()
	next := secret.New("rt_")
	// A retry that kills this token deny-lists the access token issued with it.
	nextRec := &store.RefreshRecord{GrantID: rec.GrantID, ClientID: rec.ClientID, Subject: rec.Subject, Scopes: rec.Scopes,
		Resource: rec.Resource, IssuedAt: now, ExpiresAt: now.Add(a.s.cfg.RefreshTokenTTL),
		AccessTokenID: resp.tokenID, AccessExpiresAt: resp.expiresAt.Add(clockLeeway)}
	if _, err := a.s.rotateRefresh(ctx, token, next, nextRec, a.s.cfg.RefreshRetryWindow); err != nil {
		return nil, err
	}
	resp.RefreshToken = next
	return resp, nil
}

func (a *localAuthority) verify(ctx context.Context, token string) (*Grant, error) {
	return a.s.verifyLocalToken(ctx, token)
}

// revokeAccess deny-lists the jti until the token would have expired anyway.
func (a *localAuthority) revokeAccess(ctx context.Context, g *Grant) error {
	return a.s.grants.DenyToken(ctx, g.TokenID, g.ExpiresAt.Add(clockLeeway))
}

// revokeGrant revokes the grant with every grant delegated from it.
func (a *localAuthority) revokeGrant(ctx context.Context, grantID string) error {
	return a.s.revokeTree(ctx, grantID)
}

// rotateRefresh performs the store's atomic rotation and turns its outcomes
// into OAuth errors; a reused token revokes its whole grant.
// With retryWindow > 0 a just-rotated token of the same client is rotated
// again (GrantStore.RotateRefresh).
func (s *Server) rotateRefresh(ctx context.Context, token, next string, nextRec *store.RefreshRecord, retryWindow time.Duration) (*store.RefreshRecord, error) {
	old, err := s.grants.RotateRefresh(ctx, secret.Digest(token), secret.Digest(next), nextRec, max(retryWindow, 0))
	switch {
	case err == nil:
		return old, nil
	case errors.Is(err, store.ErrRefreshReused):
		s.refreshReused(ctx, old)
		return nil, oauth.InvalidGrant("the refresh token was already used; the grant has been revoked")
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidGrant("the refresh token is invalid, expired or revoked")
	default:
		return nil, storeErr(err)
	}
}

// failPending ends a pending authorization that failed after sign-in; the
// error goes to the client's redirect URI (RFC 6749 §4.1.2.1).
func (s *Server) failPending(ctx context.Context, pendingID string, p *store.PendingAuthorization, err error) error {
	if _, cerr := s.consumePending(ctx, pendingID); cerr != nil {
		return cerr
	}
	return toClient(p.RedirectURI, p.State, err)
}
