package mcpauth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

// benchAlgorithms are the signing algorithms the server supports.
var benchAlgorithms = []string{"ES256", "EdDSA", "RS256"}

// benchServer is a Server with a registered public client and auto-approve
// (loopback issuer), driven in-process through ServeHTTP.
type benchServer struct {
	srv      *mcpauth.Server
	clientID string
}

const benchRedirect = "http://127.0.0.1:9/cb"
const benchVerifier = "bench-verifier-0123456789-0123456789-0123456789"

func newBenchServer(b *testing.B, alg string) *benchServer {
	srv, err := mcpauth.NewServer(mcpauth.Config{
		Issuer: "http://127.0.0.1:8080", Scopes: []string{"tools:read"}, Authenticator: mcpauthtest.AutoApprove("alice"),
		SigningAlgorithm: alg, RateLimits: &limits.RateLimits{Disabled: true}, Logger: slog.New(slog.DiscardHandler),
		StaticClients: []store.Client{{ID: "bench", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{benchRedirect}}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return &benchServer{srv: srv, clientID: "bench"}
}

func (s *benchServer) do(b *testing.B, method, target string, form url.Values) *httptest.ResponseRecorder {
	target = "http://127.0.0.1:8080" + target // a loopback host: mcpauthtest.AutoApprove answers only those
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	rec := httptest.NewRecorder()
	s.srv.ServeHTTP(rec, req)
	return rec
}

// code runs /authorize (auto-approved) and returns the code.
func (s *benchServer) code(b *testing.B) string {
	q := url.Values{"response_type": {"code"}, "client_id": {s.clientID}, "redirect_uri": {benchRedirect},
		"code_challenge": {mcpauth.S256Challenge(benchVerifier)}, "code_challenge_method": {"S256"},
		"scope": {"tools:read offline_access"}, "state": {"s"}}
	rec := s.do(b, http.MethodGet, "/authorize?"+q.Encode(), nil)
	loc, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		b.Fatalf("authorize: %d %s", rec.Code, rec.Body)
	}
	return loc.Query().Get("code")
}

func (s *benchServer) token(b *testing.B, form url.Values) map[string]any {
	form.Set("client_id", s.clientID)
	rec := s.do(b, http.MethodPost, "/token", form)
	var m map[string]any
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
		b.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	return m
}

func (s *benchServer) redeem(b *testing.B, code string) map[string]any {
	return s.token(b, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {benchRedirect}, "code_verifier": {benchVerifier}})
}

// BenchmarkToken_AuthorizationCode measures redeeming a code at /token
// (atomic consume, PKCE, signing, refresh token) beside a raw go-jose
// signature of the same algorithm.
func BenchmarkToken_AuthorizationCode(b *testing.B) {
	for _, alg := range benchAlgorithms {
		b.Run(alg, func(b *testing.B) {
			s := newBenchServer(b, alg)
			codes := make([]string, 0, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if len(codes) == 0 {
					b.StopTimer()
					for range cap(codes) {
						codes = append(codes, s.code(b))
					}
					b.StartTimer()
				}
				s.redeem(b, codes[len(codes)-1])
				codes = codes[:len(codes)-1]
			}
		})
		b.Run(alg+"/raw-sign", func(b *testing.B) { benchRawSign(b, alg) })
	}
}

// BenchmarkToken_Refresh measures refresh-token rotation at /token.
func BenchmarkToken_Refresh(b *testing.B) {
	for _, alg := range benchAlgorithms {
		b.Run(alg, func(b *testing.B) {
			s := newBenchServer(b, alg)
			rt := s.redeem(b, s.code(b))["refresh_token"].(string)
			b.ReportAllocs()
			for b.Loop() {
				rt = s.token(b, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})["refresh_token"].(string)
			}
		})
		b.Run(alg+"/raw-sign", func(b *testing.B) { benchRawSign(b, alg) })
	}
}

// BenchmarkIntrospect measures RFC 7662 introspection of a live access token
// beside a raw go-jose verification of the same algorithm.
func BenchmarkIntrospect(b *testing.B) {
	for _, alg := range benchAlgorithms {
		b.Run(alg, func(b *testing.B) {
			srv, err := mcpauth.NewServer(mcpauth.Config{
				Issuer: "http://127.0.0.1:8080", Scopes: []string{"tools:read"}, Authenticator: mcpauthtest.AutoApprove("alice"),
				SigningAlgorithm: alg, RateLimits: &limits.RateLimits{Disabled: true}, AllowAnonymousIntrospection: true,
				Logger:        slog.New(slog.DiscardHandler),
				StaticClients: []store.Client{{ID: "bench", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{benchRedirect}}}},
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { srv.Close() })
			s := &benchServer{srv: srv, clientID: "bench"}
			at := s.redeem(b, s.code(b))["access_token"].(string)
			form := url.Values{"token": {at}}.Encode()
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/introspect", strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
					b.Fatalf("introspect: %d %s", rec.Code, rec.Body)
				}
			}
		})
		b.Run(alg+"/raw-verify", func(b *testing.B) { benchRawVerify(b, alg) })
	}
}

func rawKey(b *testing.B, alg string) crypto.Signer {
	var k crypto.Signer
	var err error
	switch alg {
	case "ES256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func rawClaims() map[string]any {
	now := time.Now()
	return map[string]any{"iss": "http://127.0.0.1:8080", "sub": "alice", "aud": "http://127.0.0.1:8080/mcp",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "id", "scope": "tools:read", "client_id": "bench"}
}

func rawSigner(b *testing.B, alg string, k crypto.Signer) jose.Signer {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: k, KeyID: "k"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchRawSign(b *testing.B, alg string) {
	s := rawSigner(b, alg, rawKey(b, alg))
	c := rawClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jwt.Signed(s).Claims(c).Serialize(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRawVerify(b *testing.B, alg string) {
	k := rawKey(b, alg)
	tok, err := jwt.Signed(rawSigner(b, alg, k)).Claims(rawClaims()).Serialize()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		t, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
		if err != nil {
			b.Fatal(err)
		}
		var c jwt.Claims
		if err := t.Claims(k.Public(), &c); err != nil {
			b.Fatal(err)
		}
		if err := c.ValidateWithLeeway(jwt.Expected{Issuer: "http://127.0.0.1:8080", Time: time.Now()}, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
