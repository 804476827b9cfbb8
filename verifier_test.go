package mcpauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/mcpauth/mcpauth/store"
)

const testAudience = "https://mcp.example.com/mcp"

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// rsKey is a signing key of the test issuer.
type rsKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

func newRSKey(t testing.TB, alg string) rsKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "RS256", "PS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: priv.Public()}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return rsKey{kid: base64.RawURLEncoding.EncodeToString(tp), alg: alg, priv: priv}
}

func (k rsKey) publicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"}
}

// signJWS builds a compact JWS by hand, so tests can forge any header.
func signJWS(t testing.TB, k rsKey, header, claims map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := b64(hb) + "." + b64(cb)
	alg, _ := header["alg"].(string)
	return input + "." + b64(rawSign(t, k.priv, alg, input))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rawSign(t testing.TB, priv crypto.Signer, alg, input string) []byte {
	t.Helper()
	d := sha256.Sum256([]byte(input))
	switch alg {
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, priv.(*ecdsa.PrivateKey), d[:])
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	case "RS256":
		sig, err := rsa.SignPKCS1v15(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA256, d[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case "PS256":
		sig, err := rsa.SignPSS(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case "EdDSA":
		return ed25519.Sign(priv.(ed25519.PrivateKey), []byte(input))
	}
	t.Fatalf("cannot sign %s", alg)
	return nil
}

// testAS is a stand-in authorization server: RFC 8414 metadata and a JWKS.
type testAS struct {
	t      testing.TB
	srv    *httptest.Server
	issuer string
	keys   map[string]rsKey // by alg
	hits   atomic.Int64     // JWKS fetches

	mu     sync.Mutex
	status int
	extra  []rsKey // published in addition to keys
}

func newTestAS(t testing.TB) *testAS {
	t.Helper()
	as := &testAS{t: t, keys: map[string]rsKey{}, status: 200}
	for _, alg := range []string{"ES256", "RS256", "EdDSA", "PS256"} {
		as.keys[alg] = newRSKey(t, alg)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": as.issuer, "jwks_uri": as.issuer + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		as.hits.Add(1)
		as.mu.Lock()
		status := as.status
		var set jose.JSONWebKeySet
		for _, alg := range []string{"ES256", "RS256", "EdDSA", "PS256"} {
			set.Keys = append(set.Keys, as.keys[alg].publicJWK())
		}
		for _, k := range as.extra {
			set.Keys = append(set.Keys, k.publicJWK())
		}
		as.mu.Unlock()
		if status != 200 {
			http.Error(w, "down", status)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		json.NewEncoder(w).Encode(set)
	})
	as.srv = httptest.NewServer(mux)
	as.issuer = as.srv.URL
	t.Cleanup(as.srv.Close)
	return as
}

func (as *testAS) claims(now time.Time) map[string]any {
	return map[string]any{
		"iss":             as.issuer,
		"sub":             "alice",
		"aud":             testAudience,
		"exp":             now.Add(time.Hour).Unix(),
		"iat":             now.Unix(),
		"nbf":             now.Unix(),
		"jti":             "tok-1",
		"client_id":       "client-1",
		"scope":           "tools:read files",
		"scp":             []string{"tools:read", "files"},
		"agt":             "did:grantex:ag_1",
		"dev":             "local",
		"grnt":            "grant-1",
		"delegationDepth": 0,
	}
}

func (as *testAS) header(alg string) map[string]any {
	return map[string]any{"alg": alg, "kid": as.keys[alg].kid, "typ": "at+jwt"}
}

// token signs claims (modified by edit) with the alg's key.
func (as *testAS) token(alg string, edit func(h, c map[string]any)) string {
	h, c := as.header(alg), as.claims(time.Now())
	if edit != nil {
		edit(h, c)
	}
	return signJWS(as.t, as.keys[alg], h, c)
}

func (as *testAS) verifier(t testing.TB, edit func(*VerifierOptions)) *Verifier {
	t.Helper()
	opts := VerifierOptions{Issuer: as.issuer, Audience: testAudience, Logger: quietLog}
	if edit != nil {
		edit(&opts)
	}
	v, err := NewVerifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestVerifierAttacks(t *testing.T) {
	as := newTestAS(t)
	v := as.verifier(t, func(o *VerifierOptions) { o.TokenCacheSize = -1 })
	rsaPub := as.keys["RS256"].priv.Public().(*rsa.PublicKey)
	pubDER, _ := x509.MarshalPKIXPublicKey(rsaPub)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	pubJWK, _ := json.Marshal(as.keys["RS256"].publicJWK())
	hs256 := func(secret []byte) string {
		h, _ := json.Marshal(map[string]any{"alg": "HS256", "kid": as.keys["RS256"].kid, "typ": "at+jwt"})
		c, _ := json.Marshal(as.claims(time.Now()))
		in := b64(h) + "." + b64(c)
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + b64(m.Sum(nil))
	}
	unsigned := func(sig string) string {
		h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "at+jwt"})
		c, _ := json.Marshal(as.claims(time.Now()))
		return b64(h) + "." + b64(c) + "." + sig
	}
	grantex := func(h, c map[string]any) { // a Grantex grant token: RS256, no typ, scp only
		delete(h, "typ")
		delete(c, "scope")
		delete(c, "client_id")
	}
	now := time.Now()
	stranger := newRSKey(t, "ES256")

	tests := []struct {
		name    string
		token   string
		wantErr string // TokenError description; "" means valid
	}{
		{"valid ES256", as.token("ES256", nil), ""},
		{"valid RS256", as.token("RS256", nil), ""},
		{"valid EdDSA", as.token("EdDSA", nil), ""},
		{"valid PS256", as.token("PS256", nil), ""},
		{"alg none, no signature", unsigned(""), "malformed token"},
		{"alg none with a signature", unsigned("c2ln"), "token signing algorithm not accepted"},
		{"HS256 keyed with the public key PEM", hs256(pubPEM), "token signing algorithm not accepted"},
		{"HS256 keyed with the public JWK", hs256(pubJWK), "token signing algorithm not accepted"},
		{"HS256 keyed with the modulus", hs256(rsaPub.N.Bytes()), "token signing algorithm not accepted"},
		{"kid names an EC key, alg RS256", as.token("RS256", func(h, c map[string]any) { h["kid"] = as.keys["ES256"].kid }), "token key does not match its algorithm"},
		{"kid names an RSA key, alg ES256", as.token("ES256", func(h, c map[string]any) { h["kid"] = as.keys["RS256"].kid }), "token key does not match its algorithm"},
		{"kid names an Ed25519 key, alg ES256", as.token("ES256", func(h, c map[string]any) { h["kid"] = as.keys["EdDSA"].kid }), "token key does not match its algorithm"},
		{"kid names an RSA key, alg PS256 signed by EC", signJWS(t, as.keys["ES256"], map[string]any{"alg": "ES256", "kid": as.keys["PS256"].kid, "typ": "at+jwt"}, as.claims(now)), "token key does not match its algorithm"},
		{"tampered payload", tamper(as.token("ES256", nil), 1), "invalid token signature"},
		{"tampered signature", tamper(as.token("RS256", nil), 2), "invalid token signature"},
		{"signed by an unknown key", signJWS(t, stranger, map[string]any{"alg": "ES256", "kid": stranger.kid, "typ": "at+jwt"}, as.claims(now)), "invalid token signature"},
		{"unknown kid, a known key: relabelled kid", as.token("ES256", func(h, c map[string]any) { h["kid"] = "grantex-2026-01" }), ""},
		{"no kid", as.token("EdDSA", func(h, c map[string]any) { delete(h, "kid") }), ""},
		{"expired", as.token("ES256", func(h, c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }), "token expired"},
		{"expired within leeway", as.token("ES256", func(h, c map[string]any) { c["exp"] = now.Add(-10 * time.Second).Unix() }), ""},
		{"nbf in the future", as.token("ES256", func(h, c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() }), "token not yet valid"},
		{"nbf within leeway", as.token("ES256", func(h, c map[string]any) { c["nbf"] = now.Add(10 * time.Second).Unix() }), ""},
		{"iat in the future", as.token("ES256", func(h, c map[string]any) { c["iat"] = now.Add(5 * time.Minute).Unix() }), "token issued in the future"},
		{"iat within leeway", as.token("ES256", func(h, c map[string]any) { c["iat"] = now.Add(10 * time.Second).Unix() }), ""},
		{"no exp", as.token("ES256", func(h, c map[string]any) { delete(c, "exp") }), "token has no expiry"},
		{"exp not a number", as.token("ES256", func(h, c map[string]any) { c["exp"] = "tomorrow" }), "malformed token claims"},
		{"exp beyond year 9999", as.token("ES256", func(h, c map[string]any) { c["exp"] = 1e300 }), "malformed token claims"},
		{"wrong iss", as.token("ES256", func(h, c map[string]any) { c["iss"] = "https://evil.example" }), "token issuer not accepted"},
		{"iss with trailing slash", as.token("ES256", func(h, c map[string]any) { c["iss"] = as.issuer + "/" }), "token issuer not accepted"},
		{"no iss", as.token("ES256", func(h, c map[string]any) { delete(c, "iss") }), "token issuer not accepted"},
		{"no sub", as.token("ES256", func(h, c map[string]any) { delete(c, "sub") }), "token has no subject"},
		{"wrong aud", as.token("ES256", func(h, c map[string]any) { c["aud"] = "https://other.example.com/mcp" }), "token is not meant for this resource"},
		{"aud path prefix", as.token("ES256", func(h, c map[string]any) { c["aud"] = testAudience + "x" }), "token is not meant for this resource"},
		{"aud sub-path", as.token("ES256", func(h, c map[string]any) { c["aud"] = testAudience + "/admin" }), "token is not meant for this resource"},
		{"aud upper-case host", as.token("ES256", func(h, c map[string]any) { c["aud"] = "https://MCP.example.com/mcp" }), "token is not meant for this resource"},
		{"aud with trailing slash", as.token("ES256", func(h, c map[string]any) { c["aud"] = testAudience + "/" }), ""},
		{"aud array", as.token("ES256", func(h, c map[string]any) { c["aud"] = []string{"https://a.example", testAudience} }), ""},
		{"aud array without us", as.token("ES256", func(h, c map[string]any) { c["aud"] = []string{"https://a.example"} }), "token is not meant for this resource"},
		{"aud not a string", as.token("ES256", func(h, c map[string]any) { c["aud"] = 7 }), "malformed token claims"},
		{"no aud", as.token("ES256", func(h, c map[string]any) { delete(c, "aud") }), "token has no audience"},
		{"purpose claim", as.token("RS256", func(h, c map[string]any) { c["purpose"] = "principal_dashboard" }), "not an access token"},
		{"vc claim", as.token("RS256", func(h, c map[string]any) { c["vc"] = map[string]any{"type": []string{"VerifiableCredential"}} }), "not an access token"},
		{"typ JWT id token", as.token("RS256", func(h, c map[string]any) { h["typ"] = "JWT"; delete(c, "agt") }), "not an access token"},
		{"typ dpop+jwt", as.token("ES256", func(h, c map[string]any) { h["typ"] = "dpop+jwt" }), "not an access token"},
		{"typ application/at+jwt", as.token("ES256", func(h, c map[string]any) { h["typ"] = "application/at+jwt" }), ""},
		{"Grantex grant token", as.token("RS256", grantex), ""},
		{"Grantex shape without scp array", as.token("RS256", func(h, c map[string]any) { grantex(h, c); c["scp"] = "a b" }), "not an access token"},
		{"no typ, no grant-token shape", as.token("RS256", func(h, c map[string]any) { delete(h, "typ"); delete(c, "dev") }), "not an access token"},
		{"crit header", as.token("ES256", func(h, c map[string]any) { h["crit"] = []string{"exp"} }), "malformed token"},
		{"JWE shape", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", "malformed token"},
		{"garbage", "not.a.valid.jwt", "malformed token"},
		{"empty", "", "malformed token"},
		{"huge", strings.Repeat("a", 20<<10), "malformed token"},
		{"claims not an object", signJWS(t, as.keys["ES256"], as.header("ES256"), nil), "malformed token claims"},
		{"delegationDepth negative", as.token("ES256", func(h, c map[string]any) { c["delegationDepth"] = -1 }), "malformed token claims"},
		{"delegationDepth fractional", as.token("ES256", func(h, c map[string]any) { c["delegationDepth"] = 1.5 }), "malformed token claims"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := v.Verify(context.Background(), tt.token)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if g.Subject != "alice" || g.TokenID != "tok-1" || g.GrantID != "grant-1" || !g.Allows("tools:read") {
					t.Errorf("grant = %+v", g)
				}
				return
			}
			var te *TokenError
			if !errors.As(err, &te) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify err = %v, want a *TokenError", err)
			}
			if te.Description != tt.wantErr {
				t.Errorf("description = %q, want %q", te.Description, tt.wantErr)
			}
		})
	}
}

// tamper flips one character of part i (0 header, 1 payload, 2 signature).
func tamper(token string, part int) string {
	parts := strings.Split(token, ".")
	p := []byte(parts[part])
	i := len(p) / 2
	if p[i] == 'A' {
		p[i] = 'B'
	} else {
		p[i] = 'A'
	}
	parts[part] = string(p)
	return strings.Join(parts, ".")
}

func TestVerifierGrantClaims(t *testing.T) {
	as := newTestAS(t)
	v := as.verifier(t, nil)
	now := time.Now()
	tok := as.token("ES256", func(h, c map[string]any) {
		c["aud"] = []string{testAudience, "https://b.example"}
		c["scope"] = "tools:read files"
		c["scp"] = []string{"files", "extra"}
		c["delegationDepth"] = 2
		c["parentAgt"] = "did:grantex:ag_0"
		c["parentGrnt"] = "grant-0"
		c["exp"] = now.Add(time.Hour).Unix()
		c["iat"] = now.Unix()
	})
	g, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	want := Grant{
		Subject: "alice", Issuer: as.issuer, TokenID: "tok-1", ClientID: "client-1",
		AgentDID: "did:grantex:ag_1", DeveloperID: "local", GrantID: "grant-1", DelegationDepth: 2,
		ParentAgentDID: "did:grantex:ag_0", ParentGrantID: "grant-0",
	}
	got := *g
	got.Scopes, got.Audience, got.Raw, got.ExpiresAt, got.IssuedAt = nil, nil, nil, time.Time{}, time.Time{}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("grant = %+v\nwant    %+v", got, want)
	}
	if fmt.Sprint(g.Scopes) != "[tools:read files extra]" || fmt.Sprint(g.Audience) != "["+testAudience+" https://b.example]" {
		t.Errorf("scopes %v, audience %v", g.Scopes, g.Audience)
	}
	if g.ExpiresAt.Unix() != now.Add(time.Hour).Unix() || g.IssuedAt.Unix() != now.Unix() {
		t.Errorf("exp %v iat %v", g.ExpiresAt, g.IssuedAt)
	}
	if g.Raw["client_id"] != "client-1" {
		t.Errorf("raw = %v", g.Raw)
	}
	// Without grnt, GrantID falls back to jti.
	g, err = v.Verify(context.Background(), as.token("ES256", func(h, c map[string]any) { delete(c, "grnt"); c["jti"] = "tok-9" }))
	if err != nil || g.GrantID != "tok-9" {
		t.Errorf("GrantID = %q, %v; want tok-9", g.GrantID, err)
	}
}

// TestGrantFromClaims: the one claims→Grant mapping, shared by the
// Verifier and Server.verifyLocalToken.
func TestGrantFromClaims(t *testing.T) {
	base := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{"iss": "https://as.example", "sub": "alice", "jti": "j1", "aud": "https://r.example",
			"exp": 2e9, "iat": 1.5e9 + 0.25, "scope": "a b", "scp": []any{"b", "c"}, "delegationDepth": 2.0}
		if edit != nil {
			edit(c)
		}
		return c
	}
	g, err := grantFromClaims(base(nil))
	if err != nil {
		t.Fatal(err)
	}
	if g.Subject != "alice" || g.TokenID != "j1" || g.GrantID != "j1" || fmt.Sprint(g.Scopes) != "[a b c]" ||
		fmt.Sprint(g.Audience) != "[https://r.example]" || g.ExpiresAt.Unix() != 2e9 || g.IssuedAt.UnixMilli() != 1.5e12+250 || g.DelegationDepth != 2 {
		t.Errorf("grant = %+v", g)
	}
	tests := []struct {
		name string
		edit func(map[string]any)
		want string // TokenError description
	}{
		{"purpose", func(c map[string]any) { c["purpose"] = "x" }, "not an access token"},
		{"vc", func(c map[string]any) { c["vc"] = map[string]any{} }, "not an access token"},
		{"sub not a string", func(c map[string]any) { c["sub"] = 1.0 }, "malformed token claims"},
		{"aud array with a number", func(c map[string]any) { c["aud"] = []any{"x", 1.0} }, "malformed token claims"},
		{"scope not a string", func(c map[string]any) { c["scope"] = true }, "malformed token claims"},
		{"nbf not a number", func(c map[string]any) { c["nbf"] = "soon" }, "malformed token claims"},
		{"negative exp", func(c map[string]any) { c["exp"] = -1.0 }, "malformed token claims"},
		{"delegationDepth fractional", func(c map[string]any) { c["delegationDepth"] = 0.5 }, "malformed token claims"},
	}
	for _, tt := range tests {
		_, err := grantFromClaims(base(tt.edit))
		var te *TokenError
		if !errors.As(err, &te) || te.Description != tt.want {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	// It judges no values: a token without sub or exp maps, and its callers refuse it.
	if g, err := grantFromClaims(map[string]any{"grnt": "g1"}); err != nil || g.GrantID != "g1" || !g.ExpiresAt.IsZero() {
		t.Errorf("bare claims: %+v, %v", g, err)
	}
}

func TestVerifierOptions(t *testing.T) {
	tests := []struct {
		name string
		opts VerifierOptions
		ok   bool
	}{
		{"issuer", VerifierOptions{Issuer: "https://as.example", Audience: testAudience}, true},
		{"jwks url and token issuer", VerifierOptions{JWKSURL: "https://api.grantex.dev/.well-known/jwks.json", TokenIssuer: "https://grantex.dev", Audience: testAudience}, true},
		{"local", VerifierOptions{Local: newFakeLocal(), Audience: testAudience}, true},
		{"no issuer", VerifierOptions{JWKSURL: "https://as.example/jwks", Audience: testAudience}, false},
		{"nothing", VerifierOptions{Audience: testAudience}, false},
		{"HS256 configured", VerifierOptions{Issuer: "https://as.example", Audience: testAudience, Algorithms: []string{"ES256", "HS256"}}, false},
		{"none configured", VerifierOptions{Issuer: "https://as.example", Audience: testAudience, Algorithms: []string{"none"}}, false},
	}
	for _, tt := range tests {
		v, err := NewVerifier(tt.opts)
		if (err == nil) != tt.ok {
			t.Errorf("%s: NewVerifier err = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if v != nil {
			v.Close()
		}
	}
}

func TestVerifierAlgorithmAllowList(t *testing.T) {
	as := newTestAS(t)
	v := as.verifier(t, func(o *VerifierOptions) { o.Algorithms = []string{"RS256"} })
	if _, err := v.Verify(context.Background(), as.token("RS256", nil)); err != nil {
		t.Fatalf("RS256: %v", err)
	}
	if _, err := v.Verify(context.Background(), as.token("ES256", nil)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("ES256 with RS256 pinned: err = %v", err)
	}
}

func TestVerifierCache(t *testing.T) {
	as := newTestAS(t)
	now := time.Now()
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	v := as.verifier(t, func(o *VerifierOptions) {
		o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
		o.ClockLeeway = -1
		o.TokenCacheSize = 2
	})
	tok := as.token("ES256", func(h, c map[string]any) { c["exp"] = now.Add(2 * time.Minute).Unix() })
	g1, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := v.Verify(context.Background(), tok)
	if err != nil || g1 != g2 {
		t.Fatalf("second Verify: %v, same grant %v", err, g1 == g2)
	}
	// Cached entries end at exp.
	clock.Add(int64(3 * time.Minute))
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("after exp: err = %v, want invalid", err)
	}
	// The cache stays bounded.
	clock.Store(now.UnixNano())
	for i := range 10 {
		if _, err := v.Verify(context.Background(), as.token("ES256", func(h, c map[string]any) { c["jti"] = fmt.Sprint(i) })); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v.cache.m); n > 2 {
		t.Errorf("cache holds %d entries, max 2", n)
	}
	// A different token never hits another's entry.
	if _, err := v.Verify(context.Background(), tamper(tok, 2)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("tampered token: err = %v", err)
	}
}

func TestVerifierJWKSRotation(t *testing.T) {
	as := newTestAS(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	v := as.verifier(t, func(o *VerifierOptions) { o.Now = func() time.Time { return time.Unix(0, clock.Load()) } })
	ctx := context.Background()
	if _, err := v.Verify(ctx, as.token("ES256", nil)); err != nil {
		t.Fatal(err)
	}
	// The AS publishes a new key and signs with it.
	next := newRSKey(t, "ES256")
	as.mu.Lock()
	as.extra = []rsKey{next}
	as.mu.Unlock()
	tok := signJWS(t, next, map[string]any{"alg": "ES256", "kid": next.kid, "typ": "at+jwt"}, as.claims(time.Now()))
	clock.Add(int64(time.Minute)) // past the unknown-kid refetch interval
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("token signed with the rotated key: %v", err)
	}
	if got := as.hits.Load(); got != 2 {
		t.Errorf("JWKS fetches = %d, want 2", got)
	}
}

func TestVerifierJWKSDownKeepsKeys(t *testing.T) {
	as := newTestAS(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	v := as.verifier(t, func(o *VerifierOptions) {
		o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
		o.TokenCacheSize = -1
	})
	ctx := context.Background()
	if _, err := v.Verify(ctx, as.token("ES256", nil)); err != nil {
		t.Fatal(err)
	}
	as.mu.Lock()
	as.status = 500
	as.mu.Unlock()
	clock.Add(10 * int64(time.Minute)) // TTL passed: refreshes fail in the background
	for range 3 {
		tok := as.token("ES256", nil)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("with the JWKS down: %v", err)
		}
	}
	as.srv.Close()
	clock.Add(10 * int64(time.Minute))
	if _, err := v.Verify(ctx, as.token("RS256", nil)); err != nil {
		t.Fatalf("with the AS gone: %v", err)
	}
}

func TestVerifierJWKSColdStart(t *testing.T) {
	as := newTestAS(t)
	as.status = 503
	v := as.verifier(t, nil)
	_, err := v.Verify(context.Background(), as.token("ES256", nil))
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnavailable) || ue.RetryAfter < time.Second {
		t.Fatalf("cold start err = %v, want *UnavailableError with RetryAfter", err)
	}
}

func TestVerifierJWKSUnknownKidFlood(t *testing.T) {
	as := newTestAS(t)
	v := as.verifier(t, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, as.token("ES256", nil)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
			tok := as.token("ES256", func(h, c map[string]any) { h["kid"] = fmt.Sprint("unknown-", i); c["jti"] = fmt.Sprint(i) })
			if _, err := v.Verify(ctx, tamper(tok, 2)); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("flood token: %v", err)
			}
		})
	}
	wg.Wait()
	if got := as.hits.Load(); got != 1 {
		t.Errorf("JWKS fetches = %d, want 1 (the initial one)", got)
	}
}

// fakeLocal is a LocalVerifier: tokens map to grants; revoke publishes events.
type fakeLocal struct {
	mu      sync.Mutex
	grants  map[string]*Grant
	revoked map[string]bool
	subs    map[int]func(jti, grantID string)
	next    int
	calls   atomic.Int64
	err     error // returned for every call when set
}

func newFakeLocal() *fakeLocal {
	return &fakeLocal{grants: map[string]*Grant{}, revoked: map[string]bool{}, subs: map[int]func(string, string){}}
}

func (f *fakeLocal) issue(token string, g *Grant) { f.mu.Lock(); f.grants[token] = g; f.mu.Unlock() }

func (f *fakeLocal) VerifyAccessToken(ctx context.Context, token string) (*Grant, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	g, ok := f.grants[token]
	if !ok {
		return nil, &TokenError{Description: "unknown token"}
	}
	if f.revoked[g.TokenID] || f.revoked[g.GrantID] {
		return nil, &TokenError{Description: "token revoked"}
	}
	return g, nil
}

func (f *fakeLocal) SubscribeRevocations(fn func(jti, grantID string)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.next
	f.next++
	f.subs[id] = fn
	return func() { f.mu.Lock(); delete(f.subs, id); f.mu.Unlock() }
}

func (f *fakeLocal) revoke(jti, grantID string) {
	f.mu.Lock()
	if jti != "" {
		f.revoked[jti] = true
	}
	if grantID != "" {
		f.revoked[grantID] = true
	}
	subs := make([]func(string, string), 0, len(f.subs))
	for _, fn := range f.subs {
		subs = append(subs, fn)
	}
	f.mu.Unlock()
	for _, fn := range subs {
		fn(jti, grantID)
	}
}

func localGrant(jti, grantID string) *Grant {
	return &Grant{
		Subject: "alice", TokenID: jti, GrantID: grantID, Scopes: []string{"tools:read"},
		Audience: []string{testAudience}, ExpiresAt: time.Now().Add(time.Hour),
		Raw: map[string]any{"sub": "alice"},
	}
}

func TestVerifierLocalRevocation(t *testing.T) {
	for _, by := range []string{"jti", "grant"} {
		t.Run(by, func(t *testing.T) {
			local := newFakeLocal()
			local.issue("t1", localGrant("j1", "g1"))
			local.issue("t2", localGrant("j2", "g1"))
			local.issue("t3", localGrant("j3", "g2"))
			v, err := NewVerifier(VerifierOptions{Local: local, Audience: testAudience})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			ctx := context.Background()
			for range 3 {
				for _, tok := range []string{"t1", "t2", "t3"} {
					if _, err := v.Verify(ctx, tok); err != nil {
						t.Fatalf("Verify(%s): %v", tok, err)
					}
				}
			}
			if got := local.calls.Load(); got != 3 {
				t.Fatalf("local calls = %d, want 3 (cached after the first)", got)
			}
			if by == "jti" {
				local.revoke("j1", "")
			} else {
				local.revoke("", "g1")
			}
			if _, err := v.Verify(ctx, "t1"); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("revoked t1: err = %v, want invalid", err)
			}
			_, err = v.Verify(ctx, "t2")
			if by == "grant" && !errors.Is(err, ErrInvalidToken) {
				t.Errorf("t2 of revoked grant: err = %v, want invalid", err)
			}
			if by == "jti" && err != nil {
				t.Errorf("t2 (not revoked): %v", err)
			}
			if _, err := v.Verify(ctx, "t3"); err != nil {
				t.Errorf("t3 (other grant): %v", err)
			}
		})
	}
}

func TestVerifierLocalChecks(t *testing.T) {
	local := newFakeLocal()
	other := localGrant("j1", "g1")
	other.Audience = []string{"https://other.example/mcp"}
	local.issue("other-aud", other)
	sess := localGrant("j2", "g2")
	sess.Raw["purpose"] = "principal_dashboard"
	local.issue("session", sess)
	v, err := NewVerifier(VerifierOptions{Local: local, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx := context.Background()
	for _, tok := range []string{"other-aud", "session", "unknown"} {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Verify(%s): err = %v, want invalid", tok, err)
		}
	}
	local.err = fmt.Errorf("db: %w", ErrUnavailable)
	if _, err := v.Verify(ctx, "x"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("store down: err = %v, want ErrUnavailable", err)
	}
	local.err = fmt.Errorf("no such grant: %w", store.ErrNotFound)
	if _, err := v.Verify(ctx, "x"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("not found: err = %v, want invalid", err)
	}
}

// TestVerifierLocalRevocationRace: a revocation that lands while a token is
// being verified must not leave that token cached.
func TestVerifierLocalRevocationRace(t *testing.T) {
	local := newFakeLocal()
	v, err := NewVerifier(VerifierOptions{Local: local, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx := context.Background()
	for i := range 200 {
		tok, jti := fmt.Sprint("t", i), fmt.Sprint("j", i)
		local.issue(tok, localGrant(jti, "g"+jti))
		var wg sync.WaitGroup
		wg.Go(func() { v.Verify(ctx, tok) })
		wg.Go(func() { local.revoke(jti, "") })
		wg.Wait()
		if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("iteration %d: revoked token still accepted", i)
		}
	}
}

func TestGrantAllows(t *testing.T) {
	tests := []struct {
		granted []string
		want    string
		ok      bool
	}{
		{[]string{"tools:read"}, "tools:read", true},
		{[]string{"tools"}, "tools:read", true},
		{[]string{"tools:*"}, "tools:read", true},
		{[]string{"tools"}, "tools:read:secret", true},
		{[]string{"tools:read"}, "tools:read:secret", true},
		{[]string{"tools:read"}, "tools", false},
		{[]string{"tools:read"}, "tools:write", false},
		{[]string{"tool"}, "tools:read", false},
		{[]string{"tools:*"}, "tools", false},
		{[]string{"tools:r"}, "tools:read", false},
		{[]string{":*"}, "x:y", false},
		{[]string{"*"}, "tools", false},
		{[]string{"mcp:basic", "files"}, "files", true},
		{nil, "files", false},
	}
	for _, tt := range tests {
		g := &Grant{Scopes: tt.granted}
		if got := g.Allows(tt.want); got != tt.ok {
			t.Errorf("Grant{Scopes: %q}.Allows(%q) = %v, want %v", tt.granted, tt.want, got, tt.ok)
		}
	}
	if !(&Grant{Scopes: []string{"a", "b:*"}}).Allows("a", "b:c") || (&Grant{Scopes: []string{"a"}}).Allows("a", "b") {
		t.Error("Allows with several scopes")
	}
}

// FuzzVerifierToken feeds arbitrary tokens to a verifier with warm keys:
// it must never accept one (the fuzzer cannot sign) and never panic.
func FuzzVerifierToken(f *testing.F) {
	as := newTestAS(f)
	v := as.verifier(f, nil)
	valid := map[string]bool{}
	for _, tok := range []string{as.token("ES256", nil), as.token("RS256", func(h, c map[string]any) { delete(h, "typ") })} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			f.Fatal(err)
		}
		valid[tok] = true
		f.Add(tok)
	}
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")
	f.Add("a.b.c")
	f.Add("....")
	f.Fuzz(func(t *testing.T, token string) {
		g, err := v.Verify(context.Background(), token)
		if err == nil {
			if !valid[token] {
				t.Fatalf("accepted a token the issuer did not sign: %q (%+v)", token, g)
			}
			return
		}
		if !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
