package mcpauth

// This file implements RFC 9068 JWT access tokens for the local authority:
// minting, and their verification by the one verification core (verifier.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
)

// accessClaims are the claims of our access tokens: RFC 9068 §2.2 plus the
// Grantex grant-token claims, so one verifier reads tokens of both modes.
type accessClaims struct {
	Issuer          string   `json:"iss"`
	Subject         string   `json:"sub"`
	Audience        string   `json:"aud"`
	Expiry          int64    `json:"exp"`
	IssuedAt        int64    `json:"iat"`
	ID              string   `json:"jti"`
	ClientID        string   `json:"client_id"`
	Scope           string   `json:"scope"`
	Scp             []string `json:"scp"`
	AgentDID        string   `json:"agt"`
	DeveloperID     string   `json:"dev"`
	GrantID         string   `json:"grnt"`
	DelegationDepth int      `json:"delegationDepth"`
	// Budget is the remaining budget at issuance, when the grant has one.
	Budget *int64 `json:"bdg,omitempty"`
	// Delegated tokens only (token exchange): RFC 8693 §4.1 act and the
	// Grantex parent claims.
	Act        map[string]any `json:"act,omitempty"`
	ParentAgt  string         `json:"parentAgt,omitempty"`
	ParentGrnt string         `json:"parentGrnt,omitempty"`
}

// clockLeeway tolerates clock skew between replicas and verifiers: the
// one leeway of the server's own checks, equal to a [Verifier]'s default.
const clockLeeway = defaultClockLeeway

// signAccessToken issues an RFC 9068 JWT (typ at+jwt) for a grant.
func (s *Server) signAccessToken(ctx context.Context, clientID, subject, grantID, audience string, scopes []string) (token, jti string, exp time.Time, err error) {
	return s.signAccessTokenUntil(ctx, clientID, subject, grantID, audience, scopes, time.Time{})
}

// signAccessTokenUntil is signAccessToken with exp capped so that the token,
// clock leeway included, is dead by grantEnd (zero: no cap). The store keeps a
// revoked grant's tombstone until grantEnd and no longer, so no token may
// outlive it (RFC 9700 §4.14: revocation must reach every token of a grant).
func (s *Server) signAccessTokenUntil(ctx context.Context, clientID, subject, grantID, audience string, scopes []string, grantEnd time.Time) (token, jti string, exp time.Time, err error) {
	return s.signClaims(ctx, accessClaims{Subject: subject, Audience: audience, ClientID: clientID, Scp: scopes,
		AgentDID: "did:grantex:" + s.cfg.Grantex.AgentID, GrantID: grantID}, grantEnd)
}

// signClaims signs c with iss, iat, exp, jti, scope and dev filled in, exp
// capped as signAccessTokenUntil says.
func (s *Server) signClaims(ctx context.Context, c accessClaims, grantEnd time.Time) (token, jti string, exp time.Time, err error) {
	key, err := s.keys.Signer(ctx)
	if err != nil {
		return "", "", time.Time{}, err
	}
	now := s.now()
	exp = now.Add(s.cfg.AccessTokenTTL)
	if limit := grantEnd.Add(-clockLeeway).Truncate(time.Second); !grantEnd.IsZero() && limit.Before(exp) {
		if !limit.After(now) {
			return "", "", time.Time{}, errGrantEnded
		}
		exp = limit
	}
	if c.Budget == nil {
		if c.Budget, err = s.budgetClaim(ctx, c.GrantID); err != nil {
			return "", "", time.Time{}, err
		}
	}
	jti = uuid.NewString()
	c.Issuer, c.Expiry, c.IssuedAt, c.ID = s.cfg.Issuer, exp.Unix(), now.Unix(), jti
	c.Scope, c.DeveloperID = strings.Join(c.Scp, " "), s.cfg.Grantex.DeveloperID
	if c.Scp == nil {
		c.Scp = []string{}
	}
	// Marshal the claims once and sign them: go-jose's jwt builder would
	// marshal, unmarshal into a map and marshal again (issue 12).
	payload, err := json.Marshal(&c)
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("signing access token: %w", err)
	}
	jws, err := key.Signer.Sign(payload)
	if err == nil {
		token, err = jws.CompactSerialize()
	}
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("signing access token: %w", err)
	}
	return token, jti, time.Unix(exp.Unix(), 0), nil
}

// errGrantEnded: the grant ends too soon to carry another access token.
var errGrantEnded = errors.New("mcpauth: the grant has ended")

// invalidToken is a *TokenError (errors.Is ErrInvalidToken) whose
// description may be sent to the client.
func invalidToken(format string, args ...any) error {
	return &TokenError{Description: fmt.Sprintf(format, args...)}
}

// localAlgorithms are the algorithms our own keys can sign with.
var localAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}

// verifyLocalToken checks a token we signed by the one verification core
// ([verifyToken]) with our own keys, by the rules a [Verifier] applies
// (plus a jti, by which tokens are revoked), then revocation in the store. It does not check
// audience or scopes (the resource server does).
//
// The signature and claim checks of a token are cached (s.verified, bounded,
// ending at exp); the store's revocation check runs on every call, so a
// revocation made by another replica is seen at once.
func (s *Server) verifyLocalToken(ctx context.Context, token string) (*Grant, error) {
	now := s.now()
	cache := s.verified // nil: disabled (Config.VerifiedTokenCacheSize < 0)
	if len(token) > maxTokenBytes {
		cache = nil // verifyToken refuses it
	}
	var (
		key [32]byte
		gen uint64
		g   *Grant
		hit bool
	)
	if cache != nil {
		key = tokenDigest(token)
		gen = cache.generation()
		g, hit = cache.get(key, now)
	}
	if !hit {
		var err error
		g, err = verifyToken(ctx, token, localAlgorithms, s.keys, tokenRules{
			issuer: s.cfg.Issuer, leeway: clockLeeway, requireJTI: true,
		}, now)
		if err != nil {
			return nil, err
		}
	}
	revoked, err := s.grants.IsRevoked(ctx, g.TokenID, g.GrantID)
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, invalidToken("token has been revoked")
	}
	if cache != nil && !hit {
		cache.put(key, g, now, gen)
	}
	return g, nil
}

// VerifyAccessToken verifies an access token this server issued (either
// mode): signature, issuer, lifetime and revocation, with no HTTP round trip.
// It does not check audience or scopes; RequireMCPAuth does. Together with
// SubscribeRevocations it is the same-process fast path of the middleware.
func (s *Server) VerifyAccessToken(ctx context.Context, token string) (*Grant, error) {
	g, err := s.authority.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	// The grant may be the verified-token cache's: the caller gets its own.
	c := *g
	c.Scopes, c.Audience, c.Raw = slices.Clone(g.Scopes), slices.Clone(g.Audience), maps.Clone(g.Raw)
	return &c, nil
}
