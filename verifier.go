package mcpauth

// This file implements access token verification for resource servers:
// RFC 9068 JWT access tokens and Grantex grant tokens, signed with keys
// from a JWK Set (RFC 7517) or checked in process by a LocalVerifier.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/mcpauth/mcpauth/internal/jwks"
	"github.com/mcpauth/mcpauth/store"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrInvalidToken is the verification refusal. Every error from
// [Verifier.Verify] matches it or [ErrUnavailable] with errors.Is, or is
// the caller's context error.
var (
	// ErrInvalidToken: the token is malformed, badly signed, expired, not
	// yet valid, for another issuer or audience, revoked, or not an access
	// token. RFC 6750 §3.1 invalid_token, HTTP 401. The error is a
	// [*TokenError] whose Description can be shown to the client.
	ErrInvalidToken = errors.New("mcpauth: invalid access token")
)

// TokenError is a rejected token. It matches [ErrInvalidToken].
type TokenError struct {
	// Description says why, tersely; it is safe to send as the RFC 6750
	// error_description. It never contains the token.
	Description string
	// Err is the underlying cause, for logs.
	Err error
}

// Error includes the cause, for logs; clients get Description.
func (e *TokenError) Error() string {
	if e.Err != nil {
		return "mcpauth: invalid access token: " + e.Description + ": " + e.Err.Error()
	}
	return "mcpauth: invalid access token: " + e.Description
}

// Is makes errors.Is(err, ErrInvalidToken) true.
func (e *TokenError) Is(target error) bool { return target == ErrInvalidToken }

// Unwrap returns the cause.
func (e *TokenError) Unwrap() error { return e.Err }

// ErrUnavailable means the work cannot be done now but may be retried. It
// is [ErrUnavailable] itself (one sentinel, so stores can return it
// without importing this package), named here for the middleware's and the
// Verifier's callers: a token that could not be checked ([*UnavailableError]),
// a store that is down. Endpoints answer 503 temporarily_unavailable, the
// middleware 503 with Retry-After.
var ErrUnavailable = store.ErrUnavailable

// UnavailableError means a token could not be checked right now: no
// signing keys could be fetched yet, or the store failed. Never a reason to
// let a request through: the middleware answers 503 with Retry-After. It
// matches [ErrUnavailable], the one "unavailable" error of the module.
type UnavailableError struct {
	// RetryAfter is a hint for the Retry-After header (RFC 9110 §10.2.3).
	RetryAfter time.Duration
	// Err is the cause (a JWKS fetch error, a store error), for logs.
	Err error
}

// Error includes the cause, for logs.
func (e *UnavailableError) Error() string {
	if e.Err != nil {
		return "mcpauth: token cannot be verified now: " + e.Err.Error()
	}
	return "mcpauth: token cannot be verified now"
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Err }

func invalid(desc string, cause error) error { return &TokenError{Description: desc, Err: cause} }

// LocalVerifier verifies tokens in process, without HTTP: the
// authorization server's [*Server] implements it when the resource server
// shares its process.
type LocalVerifier interface {
	// VerifyAccessToken checks the token's signature with the in-process
	// keys, its iss, exp, nbf and iat, and that neither it (jti) nor its
	// grant has been revoked. It does not check audience or scopes; the
	// Verifier and the middleware do. For a token that is not valid it
	// returns an error matching ErrInvalidToken (or ErrNotFound); any other
	// error means the check could not be made and is answered with 503.
	VerifyAccessToken(ctx context.Context, token string) (*Grant, error)
	// SubscribeRevocations calls fn (synchronously, quickly) with the jti of
	// every revoked access token and the id of every revoked grant (either
	// may be empty) until cancel is called.
	SubscribeRevocations(fn func(jti, grantID string)) (cancel func())
}

// Defaults for [VerifierOptions].
const (
	defaultClockLeeway    = 30 * time.Second
	defaultTokenCacheSize = 10000
	defaultTokenCacheTTL  = 5 * time.Minute
)

// defaultAlgorithms are the JWS algorithms (RFC 7518 §3.1, RFC 8037 §3.1)
// accepted when VerifierOptions.Algorithms is empty.
var defaultAlgorithms = []string{"RS256", "ES256", "PS256", "EdDSA"}

// maxTokenBytes bounds the tokens we parse at all.
const maxTokenBytes = 16 << 10

// maxFallbackKeys bounds how many keys a token whose kid is unknown is tried
// against (see jwks.Set.Candidates).
const maxFallbackKeys = 4

// VerifierOptions configure a [Verifier]: Audience, and one of Local,
// JWKSURL or Issuer.
type VerifierOptions struct {
	// Issuer is the authorization server's issuer (RFC 8414 §2). Its
	// metadata gives jwks_uri (fallback {Issuer}/.well-known/jwks.json), and
	// tokens must carry it as iss unless TokenIssuer is set.
	Issuer string
	// JWKSURL is the JWK Set URL, when it is not to be discovered from Issuer.
	JWKSURL string
	// TokenIssuer is the iss tokens must carry when it differs from Issuer
	// (managed mode: Grantex tokens say https://grantex.dev while the keys
	// live at https://api.grantex.dev). Default Issuer.
	TokenIssuer string
	// Audience is this resource server's canonical URL (RFC 8707 §2, RFC
	// 9728 §3.3), e.g. https://mcp.example.com/mcp. Tokens must name it in
	// aud; the comparison is exact but for one trailing slash. Empty means
	// the audience is not checked at all, which only suits a verifier that
	// is not guarding a resource (the authorization server checking
	// upstream tokens): [RequireMCPAuth] refuses to run without an audience
	// (RFC 8707 §2; MCP 2025-11-25 §Token Audience Binding and Validation).
	Audience string
	// AllowMissingAudience accepts tokens without an aud claim (Grantex
	// delegated tokens drop it). Off by default: RFC 8707 audience binding
	// is what stops a token for another server from working here.
	AllowMissingAudience bool
	// Algorithms are the accepted JWS algorithms. Default
	// RS256, ES256, PS256 and EdDSA. HS256/384/512 and none are refused by NewVerifier.
	Algorithms []string
	// ClockLeeway is the clock skew allowed on exp, nbf and iat. Default
	// 30 s; negative means none.
	ClockLeeway time.Duration

	// Local, when set, verifies tokens in process instead of by JWKS; no
	// HTTP happens, and revocations drop cached tokens at once.
	Local LocalVerifier

	// TokenCacheSize bounds the cache of verified tokens, keyed by the
	// token's SHA-256. Default 10,000; negative disables it.
	TokenCacheSize int
	// TokenCacheTTL is the longest a verified token is reused without
	// verifying it again (entries also end at the token's exp). Default
	// 5 minutes. With Local, revocations in this process drop
	// entries at once, but revocations made by other replicas sharing the
	// store are only seen once the entry ends: lower the TTL, or disable
	// the cache, if that window matters.
	TokenCacheTTL time.Duration
	// JWKSRefreshInterval is the least time between two JWKS fetches caused
	// by unknown key ids, and the floor for the JWKS Cache-Control max-age.
	// Default 30 s.
	JWKSRefreshInterval time.Duration

	// FeedClientID and FeedClientSecret are this resource server's
	// credentials at the issuer, a client named in its
	// Config.Introspectors; FeedToken, instead, is the issuer's operator
	// secret. With either, the Verifier follows the issuer's revocation
	// feed (SSE of RFC 8417 SETs at FeedURL, default Issuer +
	// [RevocationFeedPath]; see verifier_feed.go): revoked tokens and
	// grants are refused as soon as their event arrives. Remote verifiers
	// only: a Local one hears of revocations from its Server.
	FeedClientID, FeedClientSecret, FeedToken string
	// FeedURL is the revocation feed's URL. Default Issuer + [RevocationFeedPath].
	FeedURL string
	// FeedFailClosed chooses what happens while the feed is down (it is
	// retried with backoff, and resumes from its last event id). Zero, the
	// default, fails open: tokens keep being verified on signature and
	// expiry, revocations made meanwhile are applied on reconnect, before
	// the feed counts as connected again; availability over a window
	// bounded by the outage. A positive duration fails closed after it:
	// once the feed has been down (or not yet connected) longer, every
	// token, cached or not, is answered 503 with Retry-After.
	FeedFailClosed time.Duration
	// FeedIdleTimeout is how long the feed may stay silent before the
	// connection is called dead. Default 45 s.
	FeedIdleTimeout time.Duration

	// HTTPClient fetches metadata and keys. Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Logger receives key-fetch failures. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Metrics, when set, gets the Verifier's Prometheus collectors: cache
	// hits and misses, JWK Set fetches (README "Metrics"). Nil: none.
	Metrics prometheus.Registerer
}

// Verifier verifies bearer access tokens for one resource server: JWS
// signature (with an algorithm allow-list, RFC 8725 §3.1), iss, exp/nbf/iat
// with leeway, aud (RFC 8707, RFC 9068 §4), and the token's kind. It is what
// [RequireMCPAuth] runs, and can be used outside HTTP. Verified tokens are
// cached until they expire. A Verifier is safe for concurrent use.
//
// Token profiles: a token whose typ header is "at+jwt" (RFC 9068 §2.1) is
// checked as an access token. A token with no typ (or "JWT") must have the
// Grantex grant-token shape (agt, dev, jti, an scp array). Any other typ,
// and any token carrying purpose or vc claims (Grantex session tokens and
// credentials signed by the same key), is refused.
type Verifier struct {
	rules       tokenRules
	algs        []jose.SignatureAlgorithm
	local       LocalVerifier
	unsubscribe func()
	keys        *jwks.Set
	cache       *tokenCache
	now         func() time.Time
	metrics     *verifierMetrics // metrics.go; nil: none
	feed        *feedClient      // verifier_feed.go; nil without a feed
}

// NewVerifier returns a Verifier. It does no I/O but for the revocation
// feed, which it starts following (in the background) when given
// credentials: keys are fetched on first use.
func NewVerifier(opts VerifierOptions) (*Verifier, error) {
	v := &Verifier{
		rules: tokenRules{
			issuer:          opts.TokenIssuer,
			audience:        opts.Audience,
			allowMissingAud: opts.AllowMissingAudience,
			leeway:          opts.ClockLeeway,
		},
		local: opts.Local,
		now:   opts.Now,
	}
	if v.rules.issuer == "" {
		v.rules.issuer = opts.Issuer
	}
	if v.rules.leeway == 0 {
		v.rules.leeway = defaultClockLeeway
	} else if v.rules.leeway < 0 {
		v.rules.leeway = 0
	}
	if v.now == nil {
		v.now = time.Now
	}
	var err error
	if v.metrics, err = newVerifierMetrics(opts.Metrics); err != nil {
		return nil, fmt.Errorf("mcpauth: VerifierOptions.Metrics: %w", err)
	}
	algs := opts.Algorithms
	if len(algs) == 0 {
		algs = defaultAlgorithms
	}
	for _, a := range algs {
		if !jwks.Supported(a) {
			return nil, fmt.Errorf("mcpauth: algorithm %q is not accepted: only asymmetric JWS algorithms verify access tokens (RFC 8725 §3.1)", a)
		}
		if !slices.Contains(v.algs, jose.SignatureAlgorithm(a)) {
			v.algs = append(v.algs, jose.SignatureAlgorithm(a))
		}
	}
	if opts.Local == nil {
		if v.rules.issuer == "" {
			return nil, errors.New("mcpauth: VerifierOptions needs Issuer (or TokenIssuer) to check iss")
		}
		if opts.JWKSURL == "" && opts.Issuer == "" {
			return nil, errors.New("mcpauth: VerifierOptions needs Local, JWKSURL or Issuer")
		}
		ks, err := jwks.New(jwks.Options{
			URL:         opts.JWKSURL,
			Issuer:      opts.Issuer,
			Client:      opts.HTTPClient,
			MinInterval: opts.JWKSRefreshInterval,
			Logger:      opts.Logger,
			Now:         opts.Now,
			OnFetch:     v.metrics.jwksFetch,
		})
		if err != nil {
			return nil, err
		}
		v.keys = ks
	}
	if opts.TokenCacheSize >= 0 {
		size, ttl := opts.TokenCacheSize, opts.TokenCacheTTL
		if size == 0 {
			size = defaultTokenCacheSize
		}
		if ttl <= 0 {
			ttl = defaultTokenCacheTTL
		}
		v.cache = newTokenCache(size, ttl)
		if v.local != nil {
			v.unsubscribe = v.local.SubscribeRevocations(v.cache.revoke)
		}
	}
	if err := v.startFeed(opts); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}

// Close stops the Verifier's background work: its revocation subscription
// and any in-flight key fetch. Verify keeps working with what it holds.
func (v *Verifier) Close() {
	if v.unsubscribe != nil {
		v.unsubscribe()
	}
	if v.keys != nil {
		v.keys.Close()
	}
	if v.feed != nil {
		v.feed.close()
	}
}

// Verify checks an access token and returns its grant. The *Grant may be
// shared with other callers presenting the same token and must not be
// modified. Errors match [ErrInvalidToken] or [ErrUnavailable], or are
// ctx's error.
func (v *Verifier) Verify(ctx context.Context, token string) (*Grant, error) {
	if token == "" || len(token) > maxTokenBytes {
		return nil, invalid("malformed token", nil)
	}
	now := v.now()
	var key [32]byte
	var gen uint64
	if v.cache != nil {
		key = tokenDigest(token)
		g, ok := v.cache.get(key, now)
		v.metrics.cacheLookup(ok)
		if ok {
			if v.feed != nil {
				if err := v.feed.check(g, now); err != nil {
					return nil, err
				}
			}
			return g, nil
		}
		gen = v.cache.generation()
	}
	var g *Grant
	var err error
	if v.local != nil {
		g, err = v.verifyLocal(ctx, token, now)
	} else {
		g, err = v.verifyJWT(ctx, token, now)
	}
	if err != nil {
		return nil, err
	}
	if v.feed != nil {
		if err := v.feed.check(g, now); err != nil {
			return nil, err
		}
	}
	if v.cache != nil {
		v.cache.put(key, g, now, gen)
	}
	return g, nil
}

// tokenDigest is SHA-256(token), hashing typical tokens from a stack buffer
// so the cache-hit path does not allocate.
func tokenDigest(token string) [32]byte {
	var buf [2048]byte
	if len(token) <= len(buf) {
		n := copy(buf[:], token)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(token))
}

func (v *Verifier) verifyLocal(ctx context.Context, token string, now time.Time) (*Grant, error) {
	g, err := v.local.VerifyAccessToken(ctx, token)
	switch {
	case err == nil && g == nil:
		return nil, &UnavailableError{RetryAfter: time.Second, Err: errors.New("local verifier returned no grant")}
	case err == nil:
	case errors.Is(err, ErrInvalidToken), errors.Is(err, store.ErrNotFound):
		var te *TokenError
		if errors.As(err, &te) {
			return nil, te
		}
		return nil, invalid("invalid token", err)
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.As(err, new(*UnavailableError)):
		return nil, err
	default:
		return nil, &UnavailableError{RetryAfter: 5 * time.Second, Err: err}
	}
	if g.Raw != nil {
		if err := checkTokenKind(g.Raw); err != nil {
			return nil, err
		}
	}
	if !g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt.Add(v.rules.leeway)) {
		return nil, invalid("token expired", nil)
	}
	if err := v.rules.checkAudience(g.Audience); err != nil {
		return nil, err
	}
	return g, nil
}

func (v *Verifier) verifyJWT(ctx context.Context, token string, now time.Time) (*Grant, error) {
	return verifyToken(ctx, token, v.algs, v.keys, v.rules, now)
}

// keySource yields the keys that may have signed a token whose header
// names kid: the key with that kid (exact), or else the keys to try. A
// remote JWK Set ([jwks.Set]) and the server's own key store are both one.
type keySource interface {
	Candidates(ctx context.Context, kid string) (keys []jwks.Key, exact bool, err error)
}

// tokenRules are what a verification requires of a token's claims.
type tokenRules struct {
	issuer          string
	audience        string // empty: aud is not checked
	allowMissingAud bool
	leeway          time.Duration
	// requireJTI: the server's own tokens always carry a jti, by which
	// they are revoked.
	requireJTI bool
}

// verifyToken is the one JWS verification path of the package: the
// authorization server (/introspect, [Server.VerifyAccessToken], the
// in-process middleware) and a [Verifier] fetching a JWK Set judge a token
// by it. It parses the compact JWS strictly ([jwks.Parse]: algorithm
// allow-list, RFC 8725 §3.1; no crit; canonical base64url), picks the keys
// from keys, checks the signature and then the claims against rules (RFC
// 9068 §4, RFC 7519 §4.1). A key source that cannot answer yields an
// [*UnavailableError]; every refusal is a [*TokenError].
func verifyToken(ctx context.Context, token string, algs []jose.SignatureAlgorithm, keys keySource, rules tokenRules, now time.Time) (*Grant, error) {
	if token == "" || len(token) > maxTokenBytes {
		return nil, invalid("malformed token", nil)
	}
	t, err := jwks.Parse(token, algs)
	switch {
	case errors.Is(err, jwks.ErrAlgorithm):
		return nil, invalid("token signing algorithm not accepted", err)
	case err != nil:
		return nil, invalid("malformed token", err)
	}
	var untyped bool
	switch strings.ToLower(t.Typ) {
	case "at+jwt", "application/at+jwt":
	case "", "jwt":
		untyped = true
	default:
		return nil, invalid("not an access token", fmt.Errorf("typ %q", t.Typ))
	}
	cands, exact, err := keys.Candidates(ctx, t.Kid)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ue *jwks.UnavailableError
		if errors.As(err, &ue) {
			return nil, &UnavailableError{RetryAfter: ue.RetryAfter, Err: ue}
		}
		return nil, &UnavailableError{RetryAfter: 5 * time.Second, Err: err}
	}
	var payload []byte
	verified, tried := false, 0
	for _, k := range cands {
		if !jwks.Compatible(k, t.Alg) {
			continue
		}
		if !exact && tried == maxFallbackKeys {
			break
		}
		tried++
		if payload, err = t.Verify(k); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		if exact && tried == 0 {
			return nil, invalid("token key does not match its algorithm", fmt.Errorf("kid %q, alg %q", t.Kid, t.Alg))
		}
		return nil, invalid("invalid token signature", err)
	}
	if len(payload) == 0 || payload[0] != '{' {
		return nil, invalid("malformed token claims", nil)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, invalid("malformed token claims", err)
	}
	g, err := grantFromClaims(claims)
	if err != nil {
		return nil, err
	}
	if err := rules.check(g, now, untyped); err != nil {
		return nil, err
	}
	return g, nil
}

// checkTokenKind refuses Grantex session tokens and credentials signed by
// the grant-token key: Grantex signs them with the same key.
func checkTokenKind(claims map[string]any) error {
	if _, ok := claims["purpose"]; ok {
		return invalid("not an access token", errors.New("purpose claim"))
	}
	if _, ok := claims["vc"]; ok {
		return invalid("not an access token", errors.New("vc claim"))
	}
	return nil
}

// grantFromClaims maps the claims of a verified access token of either
// mode, RFC 9068 §2.2 or a Grantex grant token, to a Grant. It refuses
// tokens of other kinds ([checkTokenKind]) and ill-typed claims (RFC 7519
// §4.1: iss, sub, jti are strings, aud a string or array of strings, exp,
// nbf, iat NumericDates), merges scope (RFC 9068 §2.2.3, space-separated)
// with scp, and defaults GrantID to jti. It judges no value: iss, sub,
// times and aud are checked by the caller, the [Verifier] for any issuer
// and Server.verifyLocalToken for its own tokens.
func grantFromClaims(claims map[string]any) (*Grant, error) {
	if err := checkTokenKind(claims); err != nil {
		return nil, err
	}
	cl := claimReader{m: claims}
	g := &Grant{
		Issuer:         cl.str("iss"),
		Subject:        cl.str("sub"),
		TokenID:        cl.str("jti"),
		ClientID:       cl.str("client_id"),
		AgentDID:       cl.str("agt"),
		DeveloperID:    cl.str("dev"),
		GrantID:        cl.str("grnt"),
		ParentAgentDID: cl.str("parentAgt"),
		ParentGrantID:  cl.str("parentGrnt"),
		Audience:       cl.strs("aud"),
		Scopes:         mergeScopes(cl.strs("scope"), cl.strs("scp")),
		Raw:            claims,
	}
	g.ExpiresAt, _ = cl.time("exp")
	g.IssuedAt, _ = cl.time("iat")
	cl.time("nbf") // type-checked here, judged by the caller
	if depth, ok := claims["delegationDepth"]; ok {
		f, isNum := depth.(float64)
		if !isNum || f < 0 || f > 1000 || f != math.Trunc(f) {
			cl.bad = "delegationDepth"
		} else {
			g.DelegationDepth = int(f)
		}
	}
	if cl.bad != "" {
		return nil, invalid("malformed token claims", fmt.Errorf("claim %s", cl.bad))
	}
	if g.GrantID == "" {
		g.GrantID = g.TokenID
	}
	return g, nil
}

// check applies the rules to a token's claims (RFC 9068 §4, RFC 7519
// §4.1): iss, sub, exp required, nbf and iat with leeway, audience, the
// Grantex grant-token shape for tokens without typ at+jwt, and a jti when
// required.
func (r *tokenRules) check(g *Grant, now time.Time, untyped bool) error {
	if g.Issuer != r.issuer {
		return invalid("token issuer not accepted", fmt.Errorf("iss %q", g.Issuer))
	}
	if g.Subject == "" {
		return invalid("token has no subject", nil)
	}
	if r.requireJTI && g.TokenID == "" {
		return invalid("token has no jti", nil)
	}
	if _, ok := g.Raw["exp"]; !ok {
		return invalid("token has no expiry", nil)
	}
	// Dead at exp+leeway exactly: the store keeps a revoked grant's
	// tombstone until then and no longer.
	if !now.Before(g.ExpiresAt.Add(r.leeway)) {
		return invalid("token expired", nil)
	}
	if nbf, ok := (&claimReader{m: g.Raw}).time("nbf"); ok && nbf.After(now.Add(r.leeway)) {
		return invalid("token not yet valid", nil)
	}
	if !g.IssuedAt.IsZero() && g.IssuedAt.After(now.Add(r.leeway)) {
		return invalid("token issued in the future", nil)
	}
	if err := r.checkAudience(g.Audience); err != nil {
		return err
	}
	if untyped {
		// Without typ at+jwt, only the Grantex grant-token shape passes.
		if _, isArray := g.Raw["scp"].([]any); !isArray || g.AgentDID == "" || g.DeveloperID == "" || g.TokenID == "" {
			return invalid("not an access token", errors.New("no typ at+jwt and not a grant token"))
		}
	}
	return nil
}

func (r *tokenRules) checkAudience(aud []string) error {
	if r.audience == "" {
		return nil
	}
	if len(aud) == 0 {
		if r.allowMissingAud {
			return nil
		}
		return invalid("token has no audience", nil)
	}
	if !audienceMatches(aud, r.audience) {
		return invalid("token is not meant for this resource", fmt.Errorf("aud %q", aud))
	}
	return nil
}

// audienceMatches compares audiences with the resource as strings (RFC
// 9728 §3.3), tolerating one trailing slash as go-sdk's
// oauthex.MatchesResource does.
func audienceMatches(aud []string, resource string) bool {
	want := strings.TrimSuffix(resource, "/")
	for _, a := range aud {
		if a == resource || strings.TrimSuffix(a, "/") == want {
			return true
		}
	}
	return false
}

// claimReader reads typed claims, remembering the first ill-typed one.
type claimReader struct {
	m   map[string]any
	bad string
}

func (c *claimReader) str(name string) string {
	v, ok := c.m[name]
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok && c.bad == "" {
		c.bad = name
	}
	return s
}

// strs reads a string or an array of strings; a string claim named scope
// or scp is space-separated (RFC 6749 §3.3).
func (c *claimReader) strs(name string) []string {
	v, ok := c.m[name]
	if !ok {
		return nil
	}
	switch v := v.(type) {
	case string:
		if name == "scope" || name == "scp" {
			return strings.Fields(v)
		}
		if v == "" {
			return nil
		}
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				if c.bad == "" {
					c.bad = name
				}
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	if c.bad == "" {
		c.bad = name
	}
	return nil
}

// maxNumericDate is 9999-12-31: later NumericDates are refused as malformed.
const maxNumericDate = 253402300799

func (c *claimReader) time(name string) (time.Time, bool) {
	v, ok := c.m[name]
	if !ok {
		return time.Time{}, false
	}
	f, ok := v.(float64)
	if !ok || f < 0 || f > maxNumericDate {
		if c.bad == "" {
			c.bad = name
		}
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

func mergeScopes(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := a
	for _, s := range b {
		if !containsString(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// Allows reports whether the grant covers every one of scopes, honouring
// scope hierarchy (MCP 2026-07-28 §Step-Up Authorization): a granted
// scope covers itself and every scope below it, where ":" separates levels
// and a trailing ":*" names the whole subtree. "tools" and "tools:*" both
// cover "tools:read" and "tools:read:secret"; "tools:read" does not cover
// "tools" or "tools:write".
func (g *Grant) Allows(scopes ...string) bool {
	for _, s := range scopes {
		if !scopeGranted(g.Scopes, s) {
			return false
		}
	}
	return true
}

func scopeGranted(granted []string, want string) bool {
	for _, h := range granted {
		if scopeCovers(h, want) {
			return true
		}
	}
	return false
}

// scopeCovers reports whether granted scope h covers scope w.
func scopeCovers(h, w string) bool {
	if h == w {
		return true
	}
	h = strings.TrimSuffix(h, ":*")
	return h != "" && len(w) > len(h) && w[len(h)] == ':' && w[:len(h)] == h
}

// tokenCache holds verified grants by token digest. It is bounded (random
// eviction), entries end at the token's exp and never live beyond ttl, and
// revocation events drop entries by jti or grant id.
type tokenCache struct {
	mu  sync.RWMutex
	m   map[[32]byte]cacheEntry
	max int
	ttl time.Duration
	gen uint64 // bumped by every revocation
}

type cacheEntry struct {
	g     *Grant
	until time.Time
}

func newTokenCache(size int, ttl time.Duration) *tokenCache {
	return &tokenCache{m: make(map[[32]byte]cacheEntry, min(size, 1024)), max: size, ttl: ttl}
}

func (c *tokenCache) get(k [32]byte, now time.Time) (*Grant, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.g, true
}

func (c *tokenCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches g unless a revocation happened since gen was read: the grant
// was verified before it and might be the revoked one.
func (c *tokenCache) put(k [32]byte, g *Grant, now time.Time, gen uint64) {
	until := now.Add(c.ttl)
	if !g.ExpiresAt.IsZero() && g.ExpiresAt.Before(until) {
		until = g.ExpiresAt
	}
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for old := range c.m { // map order is random: random eviction
			delete(c.m, old)
			break
		}
	}
	c.m[k] = cacheEntry{g: g, until: until}
}

func (c *tokenCache) revoke(jti, grantID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.m {
		if (jti != "" && e.g.TokenID == jti) || (grantID != "" && e.g.GrantID == grantID) {
			delete(c.m, k)
		}
	}
}
