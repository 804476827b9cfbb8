package mcpauth

// This file implements the managed authority: consent at Grantex, its
// grant tokens behind our own codes and refresh tokens, its revocation and
// online verification.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/mcpauth/mcpauth/grantex"
	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/secret"
	"github.com/mcpauth/mcpauth/store"
)

// grantexAuthority delegates consent and token issuance to Grantex. The
// MCP client never talks to Grantex: it gets our code,
// and our client-bound refresh token whose sealed payload is Grantex's.
type grantexAuthority struct {
	s  *Server
	gx GrantexClient
	// verifyJWT checks a Grantex grant token's signature (Grantex's JWKS),
	// iss (Config.Grantex.Issuer) and lifetime.
	verifyJWT func(ctx context.Context, token string) (*Grant, error)

	mu      sync.Mutex
	checked map[string]verifyResult // jti → Grantex's answer, briefly cached
}

type verifyResult struct {
	valid bool
	until time.Time
}

// grantexCheckTTL bounds how stale a Grantex revocation check may be
// (Grantex allows up to 5 minutes).
const grantexCheckTTL = 30 * time.Second

// upstreamCode is what our code seals in managed mode.
type upstreamCode struct {
	Code     string `json:"code"`
	Verifier string `json:"verifier"`
}

func newGrantexAuthority(s *Server) (*grantexAuthority, error) {
	a := &grantexAuthority{s: s, gx: s.cfg.Grantex.Client, checked: map[string]verifyResult{}}
	v, err := newGrantexVerifier(s)
	if err != nil {
		return nil, err
	}
	a.verifyJWT = v
	return a, nil
}

func (a *grantexAuthority) jwksURI() string { return a.gx.JWKSURL() }

// consent starts the Grantex authorization request. The pending request is
// re-keyed under a fresh id that goes to Grantex as state, carrying the user
// and our PKCE verifier toward Grantex; a code in Grantex's answer (sandbox,
// policy allow) skips the consent page.
func (a *grantexAuthority) consent(ctx context.Context, req consentRequest) (step, error) {
	s, p, client, user, pendingID := a.s, req.p, req.client, req.user, req.pendingID
	if _, err := s.consumePending(ctx, pendingID); err != nil {
		return step{}, err
	}
	// The grant policy narrows the request before Grantex shows it; the
	// scopes Grantex grants are held to this set at exchange.
	granted, err := s.grantableScopes(ctx, user, client, p)
	if err != nil {
		return step{}, toClient(p.RedirectURI, p.State, err)
	}
	// Never more than requested (an empty request already got the
	// defaults): Grantex needs at least one scope, and offline_access is
	// ours, not Grantex's, so a request for offline_access alone cannot be
	// served and is refused rather than widened.
	scopes := slices.DeleteFunc(slices.Clone(granted), func(sc string) bool { return sc == scopeOfflineAccess })
	if len(scopes) == 0 {
		return step{}, toClient(p.RedirectURI, p.State, oauth.InvalidScope("request at least one scope besides offline_access"))
	}
	verifier := secret.New("")
	state := secret.New("")
	next := *p
	next.Scopes = granted
	next.Subject = user.Subject
	next.ExpiresAt = s.now().Add(s.cfg.CodeTTL)
	sealed, _ := json.Marshal(upstreamCode{Verifier: verifier})
	next.Upstream = secret.Seal(state, "pending", sealed)
	if err := s.grants.SavePending(ctx, secret.Digest(state), &next); err != nil {
		return step{}, toClient(p.RedirectURI, p.State, storeErr(err))
	}
	ar, err := a.gx.Authorize(ctx, grantex.AuthorizeParams{
		AgentID:             s.cfg.Grantex.AgentID,
		PrincipalID:         user.Subject,
		Scopes:              scopes,
		RedirectURI:         s.endpoint(pathCallback),
		State:               state,
		Audience:            s.audience(p.Resource),
		CodeChallenge:       S256Challenge(verifier),
		CodeChallengeMethod: "S256",
		ExpiresIn:           fmt.Sprintf("%ds", int(s.cfg.AccessTokenTTL.Seconds())),
	})
	if err != nil {
		// Nothing half-created: the pending login goes with the failure.
		_, _ = s.grants.ConsumePending(ctx, secret.Digest(state))
		return step{}, toClient(p.RedirectURI, p.State, grantexErr(err, "authorize"))
	}
	if ar.Code != "" {
		return a.finish(ctx, state, ar.Code)
	}
	cu, err := url.Parse(ar.ConsentURL)
	if err != nil || (cu.Scheme != "https" && cu.Scheme != "http") {
		_, _ = s.grants.ConsumePending(ctx, secret.Digest(state))
		return step{}, toClient(p.RedirectURI, p.State, oauth.ServerError("Grantex returned an unusable consent URL"))
	}
	return step{location: cu.String()}, nil
}

// handleCallback receives the browser back from Grantex's consent page with
// Grantex's code (or error) and our state, and issues our own code.
// It is mounted in managed mode only.
func (a *grantexAuthority) handleCallback(w http.ResponseWriter, r *http.Request) error {
	s := a.s
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" || len(state) > 128 {
		return noRedirect(oauth.InvalidRequest("the callback has no valid state"))
	}
	if e := q.Get("error"); e != "" {
		p, err := s.consumePending(r.Context(), state)
		if err != nil {
			return err
		}
		if e == "access_denied" {
			s.emit(r.Context(), Event{Type: EventConsentDenied, ClientID: p.ClientID, Subject: p.Subject, Scopes: p.Scopes, Resource: p.Resource})
			return toClient(p.RedirectURI, p.State, oauth.AccessDenied("the user denied the request"))
		}
		return toClient(p.RedirectURI, p.State, oauth.ServerError("Grantex could not complete the authorization"))
	}
	code := q.Get("code")
	if code == "" || len(code) > 512 {
		return noRedirect(oauth.InvalidRequest("the callback has no code"))
	}
	return s.show(w, r)(a.finish(r.Context(), state, code))
}

// finish turns Grantex's code into our single-use code for the MCP client.
func (a *grantexAuthority) finish(ctx context.Context, state, gxCode string) (step, error) {
	s := a.s
	p, err := s.consumePending(ctx, state)
	if err != nil {
		return step{}, err
	}
	var up upstreamCode
	raw, err := secret.Open(state, "pending", p.Upstream)
	if err != nil || json.Unmarshal(raw, &up) != nil {
		return step{}, toClient(p.RedirectURI, p.State, oauth.ServerError("the pending authorization is unreadable"))
	}
	up.Code = gxCode
	sealed, _ := json.Marshal(up)
	return s.completeAuthorization(ctx, p, "grnt_"+uuid.NewString(), p.Subject, sealed)
}

// approve refuses our consent form's approval: in managed mode the user
// consents on Grantex's page, and the code comes back through handleCallback.
func (a *grantexAuthority) approve(context.Context, consentRequest) (step, error) {
	return step{}, noRedirect(oauth.InvalidRequest("consent to this application is given at Grantex; return to the application and start again"))
}

// exchange redeems Grantex's code with our verifier and records the grant.
func (a *grantexAuthority) exchange(ctx context.Context, code string, rec *store.CodeRecord, client *store.Client) (*tokenResponse, *store.Redemption, error) {
	s := a.s
	var up upstreamCode
	raw, err := secret.Open(code, "code", rec.Upstream)
	if err != nil || json.Unmarshal(raw, &up) != nil {
		return nil, nil, oauth.InvalidGrant("the authorization code is invalid")
	}
	tok, err := a.gx.ExchangeCode(ctx, up.Code, up.Verifier)
	if err != nil {
		return nil, nil, grantexErr(err, "token")
	}
	claims := unverifiedClaims(tok.GrantToken)
	// At issuance, the token may carry only what was consented to here
	// (the request, narrowed by the grant policy): a Grantex that granted
	// more gets its grant revoked and the client nothing.
	if scp := (&claimReader{m: claims}).strs("scp"); !isSubset(tok.Scopes, rec.Scopes) || !isSubset(scp, rec.Scopes) {
		if err := a.gx.RevokeGrant(ctx, tok.GrantID); err != nil {
			s.log.Error("mcpauth: revoking a Grantex grant wider than the request failed", "grant_id", tok.GrantID, "err", err)
		}
		s.log.Error("mcpauth: Grantex granted scopes beyond the request; refused", "requested", rec.Scopes, "granted", tok.Scopes, "scp", scp)
		return nil, nil, oauth.ServerError("the authorization server could not issue the requested scopes; start the authorization again")
	}
	subject := rec.Subject
	if sub, _ := claims["sub"].(string); sub != "" {
		subject = sub
	}
	now := s.now()
	ours := &store.GrantRecord{ID: rec.GrantID, ClientID: client.ID, Subject: subject, Scopes: tok.Scopes, Resource: rec.Resource,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTokenTTL), UpstreamGrantID: tok.GrantID}
	// The mirror under Grantex's grant id lets IsRevoked(jti, grnt) see a
	// revocation of ours for tokens that carry only Grantex's id.
	mirror := &store.GrantRecord{ID: tok.GrantID, ClientID: client.ID, Subject: subject, Scopes: tok.Scopes, Resource: rec.Resource,
		CreatedAt: now, ExpiresAt: ours.ExpiresAt, UpstreamGrantID: tok.GrantID}
	red := &store.Redemption{Grants: []*store.GrantRecord{ours, mirror}}
	resp := a.response(tok, claims, rec.GrantID, subject)
	if issuesRefresh(client, rec.Scopes) && tok.RefreshToken != "" {
		rt := secret.New("rt_")
		red.RefreshDigest = secret.Digest(rt)
		red.Refresh = &store.RefreshRecord{
			GrantID: rec.GrantID, ClientID: client.ID, Subject: subject, Scopes: rec.Scopes, Resource: rec.Resource,
			IssuedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTokenTTL), Upstream: secret.Seal(rt, "refresh", []byte(tok.RefreshToken)),
		}
		resp.RefreshToken = rt
	}
	return resp, red, nil
}

func (a *grantexAuthority) response(tok *grantex.Token, claims map[string]any, grantID, subject string) *tokenResponse {
	jti, _ := claims["jti"].(string)
	agt, _ := claims["agt"].(string)
	expiresIn := int64(tok.ExpiresAt.Sub(a.s.now()).Seconds())
	if expiresIn < 0 {
		expiresIn = 0
	}
	return &tokenResponse{AccessToken: tok.GrantToken, TokenType: "Bearer", ExpiresIn: expiresIn,
		Scope: strings.Join(tok.Scopes, " "), tokenID: jti, grantID: grantID, agentDID: agt, subject: subject, scopes: tok.Scopes}
}

// refresh rotates Grantex's refresh token (single use there too) and ours.
func (a *grantexAuthority) refresh(ctx context.Context, token string, rec *store.RefreshRecord, client *store.Client, scopes []string) (*tokenResponse, error) {
	s := a.s
	if !isSubset(rec.Scopes, scopes) {
		return nil, oauth.InvalidScope("managed mode cannot narrow scopes on refresh")
	}
	gxRefresh, err := secret.Open(token, "refresh", rec.Upstream)
	if err != nil {
		return nil, oauth.InvalidGrant("the refresh token is invalid")
	}
	tok, err := a.gx.RefreshToken(ctx, string(gxRefresh))
	if err != nil {
		return nil, grantexErr(err, "refresh")
	}
	// As at exchange: never more than the grant holds here.
	if scp := (&claimReader{m: unverifiedClaims(tok.GrantToken)}).strs("scp"); !isSubset(tok.Scopes, rec.Scopes) || !isSubset(scp, rec.Scopes) {
		s.log.Error("mcpauth: Grantex refreshed a grant into wider scopes; revoking it", "grant_id", rec.GrantID, "granted", tok.Scopes, "scp", scp)
		if err := s.endGrant(ctx, rec.GrantID); err != nil {
			s.log.Error("mcpauth: revoking a widened grant failed", "grant_id", rec.GrantID, "err", err)
		}
		s.revoked(ctx, "", rec.GrantID)
		return nil, oauth.InvalidGrant("the grant is no longer valid; authorize again")
	}
	now := s.now()
	next := secret.New("rt_")
	nextRec := &store.RefreshRecord{GrantID: rec.GrantID, ClientID: rec.ClientID, Subject: rec.Subject, Scopes: rec.Scopes,
		Resource: rec.Resource, IssuedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTokenTTL),
		Upstream: secret.Seal(next, "refresh", []byte(tok.RefreshToken))}
	// No retry window: Grantex has rotated its refresh token already, and
	// the successor sealed under our lost token cannot be opened again.
	if _, err := s.rotateRefresh(ctx, token, next, nextRec, 0); err != nil {
		return nil, err
	}
	resp := a.response(tok, unverifiedClaims(tok.GrantToken), rec.GrantID, rec.Subject)
	resp.RefreshToken = next
	return resp, nil
}

// verify checks a Grantex token's signature, issuer and lifetime, our own
// deny list, and Grantex's verify endpoint for revocations made elsewhere.
func (a *grantexAuthority) verify(ctx context.Context, token string) (*Grant, error) {
	g, err := a.verifyJWT(ctx, token)
	if err != nil {
		return nil, err
	}
	revoked, err := a.s.grants.IsRevoked(ctx, g.TokenID, g.GrantID)
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, invalidToken("token has been revoked")
	}
	valid, err := a.checkWithGrantex(ctx, g.TokenID, token)
	if err != nil {
		return nil, err
	}
	if !valid {
		return nil, invalidToken("Grantex reports the token is no longer valid")
	}
	return g, nil
}

// checkWithGrantex asks POST /v1/tokens/verify, caching the answer briefly.
func (a *grantexAuthority) checkWithGrantex(ctx context.Context, jti, token string) (bool, error) {
	now := a.s.now()
	a.mu.Lock()
	if r, ok := a.checked[jti]; ok && now.Before(r.until) {
		a.mu.Unlock()
		return r.valid, nil
	}
	a.mu.Unlock()
	v, err := a.gx.VerifyToken(ctx, token)
	if err != nil {
		return false, fmt.Errorf("%w: Grantex verify: %w", ErrUnavailable, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.checked) > 10_000 {
		for k, r := range a.checked {
			if !now.Before(r.until) {
				delete(a.checked, k)
			}
		}
		if len(a.checked) > 10_000 {
			a.checked = map[string]verifyResult{}
		}
	}
	a.checked[jti] = verifyResult{valid: v.Valid, until: now.Add(grantexCheckTTL)}
	return v.Valid, nil
}

func (a *grantexAuthority) forget(jti string) {
	a.mu.Lock()
	delete(a.checked, jti)
	a.mu.Unlock()
}

// revokeAccess revokes the jti at Grantex and deny-lists it here, so our
// own verifiers stop accepting it at once even if Grantex is unreachable.
func (a *grantexAuthority) revokeAccess(ctx context.Context, g *Grant) error {
	if err := a.s.grants.DenyToken(ctx, g.TokenID, g.ExpiresAt.Add(clockLeeway)); err != nil {
		return err
	}
	a.forget(g.TokenID)
	if err := a.gx.RevokeToken(ctx, g.TokenID); err != nil {
		a.s.log.Error("mcpauth: Grantex token revocation failed; revoked locally only", "jti", g.TokenID, "err", err)
	}
	return nil
}

// revokeGrant ends our grant, its mirror and Grantex's grant (which
// cascades to every token and delegated grant there).
func (a *grantexAuthority) revokeGrant(ctx context.Context, grantID string) error {
	s := a.s
	now := s.now()
	g, err := s.grants.GetGrant(ctx, grantID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := s.grants.RevokeGrant(ctx, grantID, now); err != nil {
		return err
	}
	if g == nil || g.UpstreamGrantID == "" {
		return nil
	}
	// The mirror's subtree holds the grants delegated from it (managed
	// token exchange); Grantex revokes its own subtree likewise.
	if err := s.revokeTree(ctx, g.UpstreamGrantID); err != nil {
		return err
	}
	// Grantex tokens carry Grantex's grant id (grnt), not ours: caches
	// must drop them by that id, or they serve the revoked grant until
	// their entries end.
	s.publishRevocation("", g.UpstreamGrantID)
	if err := a.gx.RevokeGrant(ctx, g.UpstreamGrantID); err != nil {
		s.log.Error("mcpauth: Grantex grant revocation failed; revoked locally only", "grant_id", g.UpstreamGrantID, "err", err)
	}
	return nil
}

// unverifiedClaims decodes a JWT payload we received directly from Grantex
// over TLS (to read jti, sub and agt); tokens from anyone else are verified.
func unverifiedClaims(token string) map[string]any {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return map[string]any{}
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	if err != nil || json.Unmarshal(raw, &m) != nil {
		return map[string]any{}
	}
	return m
}

// grantexErr maps a Grantex failure to the OAuth error we answer (RFC 6749
// §5.2); details go to the logs, never to the client.
func grantexErr(err error, op string) *oauth.Error {
	var ae *grantex.APIError
	var ne net.Error
	// Our code (or Grantex's single-use token) may already be spent when
	// Grantex fails mid-exchange: a retry of the same request cannot work.
	if op == "token" && !grantex.IsRateLimited(err) && (grantex.IsOutcomeUnknown(err) || errors.As(err, &ne) ||
		(errors.As(err, &ae) && ae.StatusCode >= 500)) {
		return oauth.TemporarilyUnavailable(5*time.Second, "Grantex is unavailable; start the authorization again shortly").WithCause(err)
	}
	switch {
	case errors.As(err, &ae):
		switch {
		case ae.StatusCode == http.StatusTooManyRequests:
			retry := ae.RetryAfter
			if retry <= 0 {
				retry = 30 * time.Second
			}
			return oauth.TemporarilyUnavailable(retry, "Grantex is rate limiting this server; retry later").WithCause(err)
		case ae.StatusCode == http.StatusForbidden && ae.Code == "POLICY_DENIED":
			return oauth.AccessDenied("a Grantex policy denied this request").WithCause(err)
		case ae.StatusCode == http.StatusBadRequest && (op == "token" || op == "refresh"):
			return oauth.InvalidGrant("the grant is invalid, expired or already used").WithCause(err)
		case ae.StatusCode == http.StatusBadGateway || ae.StatusCode == http.StatusServiceUnavailable || ae.StatusCode == http.StatusGatewayTimeout:
			return oauth.TemporarilyUnavailable(5*time.Second, "Grantex is temporarily unavailable; retry shortly").WithCause(err)
		default:
			return oauth.ServerError("Grantex could not complete the %s request", op).WithCause(err)
		}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne):
		return oauth.TemporarilyUnavailable(5*time.Second, "Grantex did not answer in time; retry shortly").WithCause(err)
	default:
		return oauth.ServerError("Grantex could not complete the %s request", op).WithCause(err)
	}
}

// newGrantexVerifier checks Grantex grant tokens against Grantex's JWKS:
// RS256 only, iss = Config.Grantex.Issuer. Audience and
// scopes are the resource server's business.
func newGrantexVerifier(s *Server) (func(context.Context, string) (*Grant, error), error) {
	v, err := NewVerifier(VerifierOptions{
		JWKSURL:              s.cfg.Grantex.Client.JWKSURL(),
		TokenIssuer:          s.cfg.Grantex.Issuer,
		AllowMissingAudience: true,
		Algorithms:           []string{"RS256"},
		Logger:               s.log,
		Now:                  s.now,
	})
	if err != nil {
		return nil, fmt.Errorf("mcpauth: Grantex token verifier: %w", err)
	}
	return v.Verify, nil
}
