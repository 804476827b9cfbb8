package mcpauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store"
)

// es256 signs header.claims as a compact JWS with an ECDSA P-256 key.
func es256(t *testing.T, key *ecdsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// nonCanonical re-spells the last character of a base64url segment with
// different stray low bits: lenient decoders read the same bytes.
func nonCanonical(seg string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[last|1])
}

// TestOneVerdictOnEveryPath: the authorization server's /introspect, the
// in-process middleware (Local: srv) and a remote Verifier reading the JWKS
// over HTTP judge the same tokens identically, hostile ones included: a
// crit header, non-canonical base64url (which the server's own path once
// accepted), algorithm confusion, kid tricks, tampering and expiry, each
// signed with the server's real key where a signature matters.
func TestOneVerdictOnEveryPath(t *testing.T) {
	e := newEnv(t)
	at := e.tokens("pub", nil)["access_token"].(string)
	h, c := jwtParts(t, at)
	aud := c["aud"].(string)

	// The server's own private key, as a stolen-nothing attacker cannot have
	// it: tokens signed with it isolate the header and encoding rules.
	stored, err := e.keys.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var key *ecdsa.PrivateKey
	var pubJWK []byte
	for _, k := range stored {
		if k.ID != h["kid"] {
			continue
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(k.PrivateJWK); err != nil {
			t.Fatal(err)
		}
		key = jwk.Key.(*ecdsa.PrivateKey)
		pubJWK, _ = jwk.Public().MarshalJSON()
	}
	if key == nil {
		t.Fatalf("signing key %v not in the store", h["kid"])
	}
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	hdr := func(edit func(map[string]any)) map[string]any {
		m := map[string]any{"alg": "ES256", "kid": h["kid"], "typ": "at+jwt"}
		if edit != nil {
			edit(m)
		}
		return m
	}
	cl := func(edit func(map[string]any)) map[string]any {
		m := map[string]any{}
		for k, v := range c {
			m[k] = v
		}
		if edit != nil {
			edit(m)
		}
		return m
	}
	hs256 := func(secret []byte) string {
		hb, _ := json.Marshal(hdr(func(m map[string]any) { m["alg"] = "HS256" }))
		cb, _ := json.Marshal(cl(nil))
		input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	resigned := es256(t, key, hdr(nil), cl(nil))
	p := strings.Split(resigned, ".")
	now := e.clock.Now()

	tests := []struct {
		name  string
		token string
		valid bool
	}{
		{"issued token", at, true},
		{"re-signed with the server's key", resigned, true},
		{"crit header", es256(t, key, hdr(func(m map[string]any) { m["crit"] = []string{"exp"}; m["exp"] = 1 }), cl(nil)), false},
		{"crit b64 true", es256(t, key, hdr(func(m map[string]any) { m["crit"] = []string{"b64"}; m["b64"] = true }), cl(nil)), false},
		{"non-canonical signature", p[0] + "." + p[1] + "." + nonCanonical(p[2]), false},
		{"non-canonical header", nonCanonical(p[0]) + "." + p[1] + "." + p[2], false},
		{"padded signature", resigned + "==", false},
		{"alg none", strings.Join(p[:2], ".") + ".", false},
		{"alg none, rewritten header", forge(t, at, func(h, c map[string]any) { h["alg"] = "none" }, nil), false},
		{"HS256 keyed with the public JWK", hs256(pubJWK), false},
		{"HS256 keyed with the x coordinate", hs256(key.PublicKey.X.Bytes()), false},
		{"RS256 naming the EC key", es256(t, key, hdr(func(m map[string]any) { m["alg"] = "RS256" }), cl(nil)), false},
		{"kid of the server, stranger's key", es256(t, stranger, hdr(nil), cl(nil)), false},
		{"unknown kid, stranger's key", es256(t, stranger, hdr(func(m map[string]any) { m["kid"] = "nope" }), cl(nil)), false},
		{"no kid, stranger's key", es256(t, stranger, hdr(func(m map[string]any) { delete(m, "kid") }), cl(nil)), false},
		{"kid with a path", es256(t, stranger, hdr(func(m map[string]any) { m["kid"] = "../../etc/passwd" }), cl(nil)), false},
		{"tampered payload", p[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(cl(func(m map[string]any) { m["sub"] = "mallory" }))) + "." + p[2], false},
		{"expired", es256(t, key, hdr(nil), cl(func(m map[string]any) { m["exp"] = now.Add(-time.Hour).Unix() })), false},
		{"not yet valid", es256(t, key, hdr(nil), cl(func(m map[string]any) { m["nbf"] = now.Add(time.Hour).Unix() })), false},
		{"issued in the future", es256(t, key, hdr(nil), cl(func(m map[string]any) { m["iat"] = now.Add(time.Hour).Unix() })), false},
		{"no exp", es256(t, key, hdr(nil), cl(func(m map[string]any) { delete(m, "exp") })), false},
		{"foreign issuer", es256(t, key, hdr(nil), cl(func(m map[string]any) { m["iss"] = "https://evil.example" })), false},
		{"typ JWT without the grant-token shape", es256(t, key, hdr(func(m map[string]any) { m["typ"] = "JWT" }), cl(func(m map[string]any) { delete(m, "agt") })), false},
		{"typ of another kind", es256(t, key, hdr(func(m map[string]any) { m["typ"] = "secevent+jwt" }), cl(nil)), false},
		{"typ not a string", es256(t, key, hdr(func(m map[string]any) { m["typ"] = 1 }), cl(nil)), false},
		{"session-token purpose claim", es256(t, key, hdr(nil), cl(func(m map[string]any) { m["purpose"] = "x" })), false},
	}

	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	remote, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{
		JWKSURL: ts.URL + "/.well-known/jwks.json", TokenIssuer: e.issuer, Audience: aud,
		TokenCacheSize: -1, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	local := mcpauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Local: e.srv, Audience: aud}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))

	for _, tt := range tests {
		active := e.active(tt.token)

		r := httptest.NewRequest(http.MethodPost, aud, nil)
		r.Header.Set("Authorization", "Bearer "+tt.token)
		rec := httptest.NewRecorder()
		local.ServeHTTP(rec, r)
		middleware := rec.Code == http.StatusOK
		if !middleware && rec.Code != http.StatusUnauthorized && rec.Code != http.StatusBadRequest {
			t.Errorf("%s: local middleware status %d, want 200, 401 or 400", tt.name, rec.Code)
		}

		_, err := remote.Verify(context.Background(), tt.token)
		if err != nil && !errors.Is(err, mcpauth.ErrInvalidToken) {
			t.Errorf("%s: remote verifier: %v, want a verdict", tt.name, err)
		}
		verifier := err == nil

		if active != tt.valid || middleware != tt.valid || verifier != tt.valid {
			t.Errorf("%s: /introspect active=%v, local middleware accepts=%v, remote Verifier accepts=%v; want all %v",
				tt.name, active, middleware, verifier, tt.valid)
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// downRevocations is a GrantStore whose revocation lookups fail, as a
// database outage does.
type downRevocations struct {
	store.GrantStore
	down atomic.Bool
}

func (d *downRevocations) IsRevoked(ctx context.Context, jti, grantID string) (bool, error) {
	if d.down.Load() {
		return false, fmt.Errorf("connection refused: %w", mcpauth.ErrUnavailable)
	}
	return d.GrantStore.IsRevoked(ctx, jti, grantID)
}

// TestVerificationOutageIsUnavailable: a store outage while checking a
// token is one error family, ErrUnavailable (*UnavailableError), never a
// verdict: VerifyAccessToken says so, the local middleware answers 503
// with Retry-After, and /introspect 503 temporarily_unavailable.
func TestVerificationOutageIsUnavailable(t *testing.T) {
	store := &downRevocations{}
	e := newEnv(t, func(c *mcpauth.Config) { store.GrantStore = c.Grants; c.Grants = store })
	at := e.tokens("pub", nil)["access_token"].(string)
	_, c := jwtParts(t, at)
	aud := c["aud"].(string)
	store.down.Store(true)

	_, err := e.srv.VerifyAccessToken(context.Background(), at)
	var ue *mcpauth.UnavailableError
	if !errors.Is(err, mcpauth.ErrUnavailable) || errors.Is(err, mcpauth.ErrInvalidToken) {
		t.Errorf("VerifyAccessToken during an outage: %v, want ErrUnavailable", err)
	}
	mw := mcpauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Local: e.srv, Audience: aud, TokenCacheSize: -1}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest(http.MethodPost, aud, nil)
	r.Header.Set("Authorization", "Bearer "+at)
	rec := httptest.NewRecorder()
	mw.ServeHTTP(rec, r)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("middleware during an outage: %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{Local: e.srv, Audience: aud, TokenCacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Verify(context.Background(), at); !errors.As(err, &ue) || !errors.Is(err, mcpauth.ErrUnavailable) || strings.Contains(err.Error(), "keys") {
		t.Errorf("Verifier during an outage: %v, want an *UnavailableError that does not blame keys", err)
	}
	r = httptest.NewRequest(http.MethodPost, e.issuer+"/introspect", strings.NewReader(url.Values{"token": {at}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", basic("conf", confSecret))
	rec = httptest.NewRecorder()
	e.srv.ServeHTTP(rec, r)
	if code, status := oauthError(t, rec.Result()); status != http.StatusServiceUnavailable || code != "temporarily_unavailable" {
		t.Errorf("/introspect during an outage: (%q, %d), want temporarily_unavailable 503", code, status)
	}
}
