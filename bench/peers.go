// Package bench compares mcpauth with the Go libraries a developer would
// otherwise pick, side by side and interleaved in one loop: the resource
// server middleware against MicahParks/keyfunc + golang-jwt, lestrrat-go/jwx
// and the go-sdk's auth.RequireBearerToken (middleware_test.go), and the
// authorization server's endpoints against ory/fosite over loopback HTTP
// (cmd/loadcompare). It is its own module so that the library's go.mod
// gains nothing. See README.md.
package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwk"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"
	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpauth/mcpauth"
)

// What every middleware checks: the token's signature against the JWKS,
// iss, aud, exp (required, with the same leeway) and that scope covers
// RequiredScope.
const (
	Issuer        = "https://as.example.com"
	Audience      = "https://mcp.example.com/mcp"
	RequiredScope = "tools:read"
	Leeway        = 30 * time.Second
)

// Authority signs access tokens shaped like mcpauth's own (RFC 9068: typ
// at+jwt, iss, sub, aud, exp, iat, jti, client_id, scope) and serves its
// JWK Set over loopback HTTP, as an authorization server would.
type Authority struct {
	Alg     string
	JWKSURL string

	signer jose.Signer
	srv    *httptest.Server
}

// NewAuthority makes a key of alg (ES256 or RS256-2048) and serves its JWKS.
func NewAuthority(alg string) (*Authority, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("bench: algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	kid := "bench-" + strings.ToLower(alg)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg),
		Key: jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: alg}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, err
	}
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}}})
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(set)
	}))
	return &Authority{Alg: alg, JWKSURL: srv.URL + "/jwks.json", signer: signer, srv: srv}, nil
}

// Close stops the JWKS server.
func (a *Authority) Close() { a.srv.Close() }

// Claims are the claims Token signs, mcpauth's access-token shape; edit
// them to make a bad token.
type Claims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	Expiry   int64  `json:"exp,omitempty"`
	IssuedAt int64  `json:"iat"`
	ID       string `json:"jti"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// Tokens signs n distinct access tokens valid for an hour.
func (a *Authority) Tokens(n int) ([]string, error) {
	toks := make([]string, n)
	for i := range toks {
		t, err := a.Token(nil)
		if err != nil {
			return nil, err
		}
		toks[i] = t
	}
	return toks, nil
}

// Token signs one access token, valid for an hour unless edit changes it.
func (a *Authority) Token(edit func(*Claims)) (string, error) {
	now := time.Now()
	c := Claims{Issuer: Issuer, Subject: "alice", Audience: Audience, Expiry: now.Add(time.Hour).Unix(),
		IssuedAt: now.Unix(), ID: fmt.Sprintf("tok-%d", tokenSeq.Add(1)), ClientID: "bench",
		Scope: "tools:read tools:write"}
	if edit != nil {
		edit(&c)
	}
	return josejwt.Signed(a.signer).Claims(c).Serialize()
}

var tokenSeq atomic.Int64

// Middleware is one contender: an http.Handler middleware that lets a
// request through only with a valid bearer token for Audience carrying
// RequiredScope.
type Middleware struct {
	Name  string
	Wrap  func(http.Handler) http.Handler
	close func()
}

// Close releases the middleware's background work (key refresh).
func (m Middleware) Close() {
	if m.close != nil {
		m.close()
	}
}

var discard = slog.New(slog.DiscardHandler)

// MCPAuth is mcpauth.RequireMCPAuth over the JWKS URL. cacheSize is
// VerifierOptions.TokenCacheSize: 0 for the default, 1 to make a ring of
// distinct tokens miss the cache every time (first sight).
func MCPAuth(a *Authority, cacheSize int) (Middleware, error) {
	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{Issuer: Issuer, JWKSURL: a.JWKSURL, Audience: Audience,
		Algorithms: []string{a.Alg}, ClockLeeway: Leeway, TokenCacheSize: cacheSize, Logger: discard})
	if err != nil {
		return Middleware{}, err
	}
	mw, err := mcpauth.NewRequireMCPAuth(&mcpauth.RequireMCPAuthOptions{Verifier: v,
		VerifierOptions: mcpauth.VerifierOptions{Audience: Audience, Logger: discard}, RequiredScopes: []string{RequiredScope}})
	if err != nil {
		return Middleware{}, err
	}
	return Middleware{Name: "mcpauth", Wrap: mw, close: v.Close}, nil
}

// bearer returns the token of an "Authorization: Bearer" header (RFC 6750 §2.1).
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	return h[7:], true
}

func hasScope(scope, want string) bool {
	for s := range strings.FieldsSeq(scope) {
		if s == want {
			return true
		}
	}
	return false
}

func challenge(w http.ResponseWriter, code int, errCode string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="`+errCode+`"`)
	http.Error(w, errCode, code)
}

type ctxKey struct{}

// Keyfunc is golang-jwt/jwt/v5 with MicahParks/keyfunc/v3 fetching the
// JWKS, the usual hand-written middleware: parse with a claims struct,
// alg allow-list, iss, aud, required exp, leeway, then the scope.
func Keyfunc(ctx context.Context, a *Authority) (Middleware, error) {
	ctx, cancel := context.WithCancel(ctx)
	kf, err := keyfunc.NewDefaultCtx(ctx, []string{a.JWKSURL})
	if err != nil {
		cancel()
		return Middleware{}, err
	}
	parser := gjwt.NewParser(gjwt.WithValidMethods([]string{a.Alg}), gjwt.WithIssuer(Issuer),
		gjwt.WithAudience(Audience), gjwt.WithExpirationRequired(), gjwt.WithLeeway(Leeway))
	type claims struct {
		gjwt.RegisteredClaims
		Scope    string `json:"scope"`
		ClientID string `json:"client_id"`
	}
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, ok := bearer(r)
			if !ok {
				challenge(w, http.StatusUnauthorized, "invalid_request")
				return
			}
			var c claims
			if _, err := parser.ParseWithClaims(tok, &c, kf.Keyfunc); err != nil {
				challenge(w, http.StatusUnauthorized, "invalid_token")
				return
			}
			if !hasScope(c.Scope, RequiredScope) {
				challenge(w, http.StatusForbidden, "insufficient_scope")
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, &c)))
		})
	}
	return Middleware{Name: "keyfunc", Wrap: wrap, close: cancel}, nil
}

// JWX is lestrrat-go/jwx/v3 with its jwk.Cache keeping the JWKS.
func JWX(ctx context.Context, a *Authority) (Middleware, error) {
	ctx, cancel := context.WithCancel(ctx)
	cache, err := jwk.NewCache(ctx, httprc.NewClient())
	if err == nil {
		err = cache.Register(ctx, a.JWKSURL)
	}
	var set jwk.Set
	if err == nil {
		set, err = cache.CachedSet(a.JWKSURL)
	}
	if err != nil {
		cancel()
		return Middleware{}, err
	}
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, ok := bearer(r)
			if !ok {
				challenge(w, http.StatusUnauthorized, "invalid_request")
				return
			}
			t, err := jwxjwt.ParseString(tok, jwxjwt.WithKeySet(set), jwxjwt.WithValidate(true),
				jwxjwt.WithIssuer(Issuer), jwxjwt.WithAudience(Audience), jwxjwt.WithRequiredClaim("exp"),
				jwxjwt.WithAcceptableSkew(Leeway))
			if err != nil {
				challenge(w, http.StatusUnauthorized, "invalid_token")
				return
			}
			var scope string
			if err := t.Get("scope", &scope); err != nil || !hasScope(scope, RequiredScope) {
				challenge(w, http.StatusForbidden, "insufficient_scope")
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, t)))
		})
	}
	return Middleware{Name: "jwx", Wrap: wrap, close: cancel}, nil
}

// GoSDK is the MCP go-sdk's auth.RequireBearerToken (which checks exp and
// the required scopes) with a TokenVerifier written with go-jose over the
// JWKS fetched once at start (the go-sdk leaves key handling to the
// verifier; this one does no refresh, which only flatters it).
func GoSDK(ctx context.Context, a *Authority) (Middleware, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.JWKSURL, nil)
	if err != nil {
		return Middleware{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Middleware{}, err
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return Middleware{}, err
	}
	algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(a.Alg)}
	errInvalid := sdkauth.ErrInvalidToken
	verify := func(_ context.Context, token string, _ *http.Request) (*sdkauth.TokenInfo, error) {
		t, err := josejwt.ParseSigned(token, algs)
		if err != nil || len(t.Headers) != 1 {
			return nil, errInvalid
		}
		keys := set.Key(t.Headers[0].KeyID)
		if len(keys) == 0 {
			return nil, errInvalid
		}
		var c struct {
			josejwt.Claims
			Scope string `json:"scope"`
		}
		if err := t.Claims(keys[0].Key, &c); err != nil || c.Expiry == nil {
			return nil, errInvalid
		}
		if err := c.ValidateWithLeeway(josejwt.Expected{Issuer: Issuer, AnyAudience: josejwt.Audience{Audience},
			Time: time.Now()}, Leeway); err != nil {
			return nil, errInvalid
		}
		return &sdkauth.TokenInfo{Scopes: strings.Fields(c.Scope), Expiration: c.Expiry.Time(), UserID: c.Subject}, nil
	}
	mw := sdkauth.RequireBearerToken(verify, &sdkauth.RequireBearerTokenOptions{Scopes: []string{RequiredScope},
		ClockSkew: Leeway})
	return Middleware{Name: "go-sdk", Wrap: mw}, nil
}

// Peers returns the three peer middlewares, keyfunc first (the fastest).
func Peers(ctx context.Context, a *Authority) ([]Middleware, error) {
	var out []Middleware
	for _, mk := range []func(context.Context, *Authority) (Middleware, error){Keyfunc, JWX, GoSDK} {
		m, err := mk(ctx, a)
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// ringSize is how many distinct tokens a first-sight comparison cycles
// through; mcpauth's cache holds one, so each is a miss when it comes back.
const ringSize = 256

// Comparison interleaves the middlewares on the same requests: each Step
// sends one request through every contender, in an order rotated each
// step, and times each separately, so machine load falls on all alike.
type Comparison struct {
	Alg        string
	FirstSight bool            // distinct tokens (cache misses) rather than one repeated token
	Names      []string        // Names[0] is mcpauth
	Total      []time.Duration // per contender
	Steps      int

	handlers []http.Handler
	reqs     []*http.Request
	mws      []Middleware
	next     int
	w        *nopWriter
}

// NewComparison builds mcpauth and the peers over one authority of alg.
// firstSight selects a ring of distinct tokens against an mcpauth verifier
// whose cache holds one token; otherwise one token, repeated, with
// mcpauth's default cache. Every middleware is warmed (keys fetched) and
// checked to accept the tokens.
func NewComparison(ctx context.Context, a *Authority, firstSight bool) (*Comparison, error) {
	n, cacheSize := 1, 0
	if firstSight {
		n, cacheSize = ringSize, 1
	}
	toks, err := a.Tokens(n)
	if err != nil {
		return nil, err
	}
	c := &Comparison{Alg: a.Alg, FirstSight: firstSight, w: &nopWriter{h: http.Header{}}}
	m, err := MCPAuth(a, cacheSize)
	if err != nil {
		return nil, err
	}
	peers, err := Peers(ctx, a)
	if err != nil {
		m.Close()
		return nil, err
	}
	c.mws = append([]Middleware{m}, peers...)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, m := range c.mws {
		c.Names = append(c.Names, m.Name)
		c.handlers = append(c.handlers, m.Wrap(ok))
	}
	c.Total = make([]time.Duration, len(c.mws))
	for _, t := range toks {
		r := httptest.NewRequest(http.MethodPost, Audience, nil)
		r.Header.Set("Authorization", "Bearer "+t)
		c.reqs = append(c.reqs, r)
	}
	for _, h := range c.handlers { // warm: keys fetched, the last token cached
		for _, r := range c.reqs {
			if code := c.serve(h, r); code != http.StatusNoContent {
				c.Close()
				return nil, fmt.Errorf("bench: warm-up request answered %d", code)
			}
		}
	}
	return c, nil
}

func (c *Comparison) serve(h http.Handler, r *http.Request) int {
	clear(c.w.h)
	c.w.code = 0
	h.ServeHTTP(c.w, r)
	if c.w.code == 0 {
		return http.StatusOK
	}
	return c.w.code
}

// Step sends the next request through every contender once.
func (c *Comparison) Step() error {
	r := c.reqs[c.next]
	if c.next++; c.next == len(c.reqs) {
		c.next = 0
	}
	n := len(c.handlers)
	for j := range n {
		k := (j + c.Steps) % n
		start := time.Now()
		code := c.serve(c.handlers[k], r)
		c.Total[k] += time.Since(start)
		if code != http.StatusNoContent {
			return fmt.Errorf("bench: %s answered %d", c.Names[k], code)
		}
	}
	c.Steps++
	return nil
}

// PerRequest is the mean time of contender i.
func (c *Comparison) PerRequest(i int) time.Duration {
	if c.Steps == 0 {
		return 0
	}
	return c.Total[i] / time.Duration(c.Steps)
}

// Close releases every middleware.
func (c *Comparison) Close() {
	for _, m := range c.mws {
		m.Close()
	}
}

// nopWriter is a ResponseWriter that keeps only the status, so that the
// measurement is the middleware's work, not a recorder's buffering.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(p), nil
}
func (w *nopWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
