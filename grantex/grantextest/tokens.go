package grantextest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Records of the fake's state, all guarded by Server.mu.

type authRequest struct {
	id, developerID, agentID, principalID string
	scopes                                []string
	redirectURI, state, audience          string
	hasRedirect, hasState                 bool
	codeChallenge                         string
	expiresIn                             time.Duration
	expiresAt                             time.Time
	status                                string // pending, approved, denied, consumed
	code                                  string
}

type grant struct {
	id, developerID, agentID, principalID string
	scopes                                []string
	audience                              string
	status                                string // active, revoked
	issuedAt, expiresAt, revokedAt        time.Time
	parentID, parentAgentDID              string
	depth                                 int
	children                              []string
}

type tokenRecord struct {
	jti, grantID, developerID string
	expiresAt                 time.Time
	revoked                   bool
}

type refreshRecord struct {
	token, grantID, developerID, agentID string
	expiresAt                            time.Time
	used                                 bool
}

// claims are a grant token's claims. Aud and the delegation
// claims are omitted when empty, as the real signer does.
type claims struct {
	Iss             string   `json:"iss"`
	Sub             string   `json:"sub"`
	Aud             string   `json:"aud,omitempty"`
	Jti             string   `json:"jti"`
	Iat             int64    `json:"iat"`
	Exp             int64    `json:"exp"`
	Agt             string   `json:"agt"`
	Dev             string   `json:"dev"`
	Scp             []string `json:"scp"`
	Grnt            string   `json:"grnt,omitempty"`
	ParentAgt       string   `json:"parentAgt,omitempty"`
	ParentGrnt      string   `json:"parentGrnt,omitempty"`
	DelegationDepth int      `json:"delegationDepth,omitempty"`
}

// agentDID is the agt claim of an agent.
func agentDID(agentID string) string { return "did:grantex:" + agentID }

// issueLocked signs a new token for g expiring at exp and records its jti.
func (s *Server) issueLocked(g *grant, exp time.Time) (string, error) {
	now := s.now()
	c := claims{
		Iss:             s.issuer,
		Sub:             g.principalID,
		Aud:             g.audience,
		Jti:             "tok_" + newULID(now),
		Iat:             now.Unix(),
		Exp:             exp.Unix(),
		Agt:             agentDID(g.agentID),
		Dev:             g.developerID,
		Scp:             g.scopes,
		Grnt:            g.id,
		ParentAgt:       g.parentAgentDID,
		ParentGrnt:      g.parentID,
		DelegationDepth: g.depth,
	}
	raw, err := jwt.Signed(s.signer).Claims(c).Serialize()
	if err != nil {
		return "", err
	}
	s.tokens[c.Jti] = &tokenRecord{jti: c.Jti, grantID: g.id, developerID: g.developerID, expiresAt: exp}
	return raw, nil
}

// newRefreshLocked records a refresh token for g: ref_<ULID>, expiring at
// min(now + 30 d, grant expiry).
func (s *Server) newRefreshLocked(g *grant) string {
	now := s.now()
	rt := &refreshRecord{
		token:       "ref_" + newULID(now),
		grantID:     g.id,
		developerID: g.developerID,
		agentID:     g.agentID,
		expiresAt:   minTime(now.Add(30*24*time.Hour), g.expiresAt),
	}
	s.refresh[rt.token] = rt
	return rt.token
}

// checkTokenLocked is checkActiveGrantToken: RS256 signature by this
// server's key, iss, the required claims, exp, then revocation of the jti
// and the grant's state. It returns the claims and grant, or ok false.
// The developer check is left to the caller: verify and delegate answer it
// differently.
func (s *Server) checkTokenLocked(raw string) (*claims, *grant, bool) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, nil, false
	}
	var present map[string]json.RawMessage
	var c claims
	if err := tok.Claims(&s.key.PublicKey, &present, &c); err != nil {
		return nil, nil, false
	}
	for _, k := range []string{"sub", "agt", "dev", "scp", "jti", "iat", "exp"} {
		if _, ok := present[k]; !ok {
			return nil, nil, false
		}
	}
	now := s.now()
	if c.Iss != s.issuer || now.Unix() >= c.Exp {
		return nil, nil, false
	}
	rec := s.tokens[c.Jti]
	if rec == nil || rec.revoked || !now.Before(rec.expiresAt) {
		return nil, nil, false
	}
	g := s.grants[cmpOr(c.Grnt, c.Jti)]
	if g == nil || g.status != "active" || !now.Before(g.expiresAt) {
		return nil, nil, false
	}
	return &c, g, true
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// isoTime marshals as JavaScript's Date.toISOString, which Grantex sends.
type isoTime time.Time

func (t isoTime) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z"))
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newULID returns a ULID: 48 bits of milliseconds and 80 random bits in
// Crockford base32, the id format of the real service.
func newULID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
