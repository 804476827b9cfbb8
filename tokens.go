package mcpauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
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
}

// clockLeeway tolerates clock skew between replicas and verifiers.
const clockLeeway = 30 * time.Second

// signAccessToken issues an RFC 9068 JWT (typ at+jwt) for a grant.
func (s *Server) signAccessToken(ctx context.Context, clientID, subject, grantID, audience string, scopes []string) (token, jti string, exp time.Time, err error) {
	return s.signAccessTokenUntil(ctx, clientID, subject, grantID, audience, scopes, time.Time{})
}

// signAccessTokenUntil is signAccessToken with exp capped so that the token,
// clock leeway included, is dead by grantEnd (zero: no cap). The store keeps a
// revoked grant's tombstone until grantEnd and no longer, so no token may
// outlive it (RFC 9700 §4.14: revocation must reach every token of a grant).
func (s *Server) signAccessTokenUntil(ctx context.Context, clientID, subject, grantID, audience string, scopes []string, grantEnd time.Time) (token, jti string, exp time.Time, err error) {
	key, err := s.keys.signingKey(ctx)
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
	jti = uuid.NewString()
	c := accessClaims{
		Issuer:      s.cfg.Issuer,
		Subject:     subject,
		Audience:    audience,
		Expiry:      exp.Unix(),
		IssuedAt:    now.Unix(),
		ID:          jti,
		ClientID:    clientID,
		Scope:       strings.Join(scopes, " "),
		Scp:         scopes,
		AgentDID:    "did:grantex:" + s.cfg.AgentID,
		DeveloperID: s.cfg.DeveloperID,
		GrantID:     grantID,
	}
	if c.Scp == nil {
		c.Scp = []string{}
	}
	token, err = jwt.Signed(key.signer).Claims(c).Serialize()
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

// verifyLocalToken checks a token we signed: signature with our keys, typ,
// iss, exp/iat with leeway, and revocation in the store. It does not check
// audience or scopes (the resource server does).
func (s *Server) verifyLocalToken(ctx context.Context, token string) (*Grant, error) {
	if strings.Count(token, ".") != 2 || len(token) > 16<<10 {
		return nil, invalidToken("malformed token")
	}
	// Descriptions go to clients (error_description, RFC 6750 §3.1); the
	// library's own messages stay in the cause, for the logs.
	tok, err := jwt.ParseSigned(token, localAlgorithms)
	if err != nil {
		if alg, ok := headerAlg(token); ok && !slices.Contains(localAlgorithms, jose.SignatureAlgorithm(alg)) {
			return nil, invalid("token signing algorithm not accepted", err)
		}
		return nil, invalid("malformed token", err)
	}
	if len(tok.Headers) != 1 {
		return nil, invalidToken("exactly one signature is required")
	}
	hdr := tok.Headers[0]
	if typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, invalidToken("typ is not at+jwt")
	}
	key, err := s.keys.publicKey(ctx, hdr.KeyID)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		return nil, invalid("token was not signed by this server", err)
	}
	if key.Algorithm != hdr.Algorithm {
		return nil, invalid("token key does not match its algorithm", fmt.Errorf("alg %q, key %s", hdr.Algorithm, key.ID))
	}
	var raw map[string]any
	if err := tok.Claims(key.public.Key, &raw); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return nil, invalid("invalid token signature", err)
		}
		return nil, invalid("malformed token claims", err)
	}
	g, err := grantFromClaims(raw)
	if err != nil {
		return nil, err
	}
	if g.Subject == "" || g.TokenID == "" {
		return nil, invalidToken("sub and jti are required")
	}
	if g.Issuer != s.cfg.Issuer {
		return nil, invalid("token issuer not accepted", fmt.Errorf("iss %q", g.Issuer))
	}
	if err := checkTimes(g, s.now()); err != nil {
		return nil, err
	}
	revoked, err := s.grants.IsRevoked(ctx, g.TokenID, g.GrantID)
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, invalidToken("token has been revoked")
	}
	return g, nil
}

// headerAlg reads the alg of a compact JWS header without trusting it, to
// tell a client its algorithm is refused rather than that its token is
// malformed.
func headerAlg(token string) (string, bool) {
	h, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", false
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &hdr) != nil || hdr.Alg == "" {
		return "", false
	}
	return hdr.Alg, true
}

// checkTimes applies exp and iat (and nbf when present) with leeway.
func checkTimes(g *Grant, now time.Time) error {
	if g.ExpiresAt.IsZero() || !now.Before(g.ExpiresAt.Add(clockLeeway)) {
		return invalidToken("token has expired")
	}
	if g.IssuedAt.After(now.Add(clockLeeway)) {
		return invalidToken("token was issued in the future")
	}
	if nbf, ok := numericClaim(g.Raw, "nbf"); ok && time.Unix(nbf, 0).After(now.Add(clockLeeway)) {
		return invalidToken("token is not valid yet")
	}
	return nil
}

func numericClaim(raw map[string]any, k string) (int64, bool) {
	switch v := raw[k].(type) {
	case float64:
		return int64(v), true
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	}
	return 0, false
}

// VerifyAccessToken verifies an access token this server issued (either
// mode): signature, issuer, lifetime and revocation, with no HTTP round trip.
// It does not check audience or scopes; RequireMCPAuth does. Together with
// SubscribeRevocations it is the same-process fast path of the middleware.
func (s *Server) VerifyAccessToken(ctx context.Context, token string) (*Grant, error) {
	return s.authority.verify(ctx, token)
}
