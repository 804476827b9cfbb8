package oidc_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpauth/mcpauth/authn/oidc"
	"github.com/mcpauth/mcpauth/internal/testop"
)

// fakeIdP is a provider whose token endpoint issues a doctored ID token:
// what a compromised or confused provider, or a code injected from another
// sign-in, would hand back. zitadel's op would never sign these.
type fakeIdP struct {
	*httptest.Server
	key, other *rsa.PrivateKey
	doctor     func(claims map[string]any) (signWith *rsa.PrivateKey)

	mu        sync.Mutex
	nonce     string
	jwksHits  int
	discovery int
}

func startFakeIdP(t *testing.T, doctor func(map[string]any) *rsa.PrivateKey) *fakeIdP {
	f := &fakeIdP{doctor: doctor}
	f.key, _ = rsa.GenerateKey(rand.Reader, 2048)
	f.other, _ = rsa.GenerateKey(rand.Reader, 2048)
	mux := http.NewServeMux()
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	iss := f.URL
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.discovery++
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"issuer": iss, "authorization_endpoint": iss + "/authorize",
			"token_endpoint": iss + "/token", "jwks_uri": iss + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.jwksHits++
		f.mu.Unlock()
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f.mu.Lock()
		f.nonce = q.Get("nonce")
		f.mu.Unlock()
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			http.Error(w, "no PKCE", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {"the-code"}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		nonce := f.nonce
		f.mu.Unlock()
		now := time.Now()
		claims := map[string]any{"iss": iss, "sub": "u1", "aud": testop.ClientID, "exp": now.Add(time.Hour).Unix(),
			"iat": now.Unix(), "nonce": nonce, "email": "u1@example.com", "email_verified": true, "name": "U One"}
		key := f.doctor(claims)
		if key == nil {
			key = f.key
		}
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		body, _ := json.Marshal(claims)
		jws, _ := signer.Sign(body)
		idt, _ := jws.CompactSerialize()
		w.Header().Set("Content-Type", "application/json")
		resp := map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": idt}
		if _, drop := claims["drop_id_token"]; drop {
			delete(resp, "id_token")
		}
		json.NewEncoder(w).Encode(resp)
	})
	return f
}

// TestIDTokenVerification: an ID token for another audience, with a wrong
// or missing nonce, from another issuer, expired, or badly signed is
// refused with our own page; no session is set.
func TestIDTokenVerification(t *testing.T) {
	for _, tc := range []struct {
		name   string
		doctor func(c map[string]any, f *fakeIdP) *rsa.PrivateKey
		want   string // "" → admitted
	}{
		{"genuine", func(map[string]any, *fakeIdP) *rsa.PrivateKey { return nil }, ""},
		{"another audience", func(c map[string]any, _ *fakeIdP) *rsa.PrivateKey { c["aud"] = "another-client"; return nil }, "invalid_token"},
		{"shared audience, azp another client", func(c map[string]any, _ *fakeIdP) *rsa.PrivateKey {
			c["aud"], c["azp"] = []string{testop.ClientID, "another-client"}, "another-client"
			return nil
		}, "invalid_token"},
		{"shared audience, azp us", func(c map[string]any, _ *fakeIdP) *rsa.PrivateKey {
			c["aud"], c["azp"] = []string{testop.ClientID, "another-client"}, testop.ClientID
			return nil
		}, ""},
		{"wrong nonce", func(c map[string]any, _ *fakeIdP) *rsa.PrivateKey { c["nonce"] = "from-another-sign-in"; return nil }, "invalid_token"},
		{"no nonce", func(c map[string]any, _ *fakeIdP) *rsa.PrivateKey { delete(c, "nonce"); return nil }, "invalid_token"},
		{"another issuer", func(c map[string]any, _ *fakeIdP) *rsa.PrivateKey { c["iss"] = "https://evil.example"; return nil }, "invalid_token"},
		{"expired", func(c map[string]any, _ *fakeIdP) *rsa.PrivateKey {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
			return nil
		}, "invalid_token"},
		{"foreign key", func(c map[string]any, f *fakeIdP) *rsa.PrivateKey { return f.other }, "invalid_token"},
		{"no id_token", func(c map[string]any, _ *fakeIdP) *rsa.PrivateKey { c["drop_id_token"] = true; return nil }, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var idp *fakeIdP
			e := newEnv(t, func(string) string {
				idp = startFakeIdP(t, func(c map[string]any) *rsa.PrivateKey { return tc.doctor(c, idp) })
				return idp.URL
			}, nil)
			b := newBrowser(t)
			_, challenge := pkce()
			got := e.toProvider(b, challenge, "")
			if tc.want == "" {
				if got.status != http.StatusOK || got.url.Path != "/consent" {
					t.Fatalf("want consent, got %d at %s:\n%s", got.status, got.url, got.body)
				}
				return
			}
			assertErrorPage(t, got, http.StatusBadGateway, tc.want)
			if u, ok, _ := e.auth.Authenticate(reqWithCookies(b, e.srv.URL)); ok {
				t.Errorf("signed in %+v", u)
			}
		})
	}
}

// TestProviderDownAtCallback: the provider goes away between the redirect
// and the callback (token endpoint unreachable): our 502 page.
func TestProviderDownAtCallback(t *testing.T) {
	var idp *fakeIdP
	e := newEnv(t, func(string) string {
		idp = startFakeIdP(t, func(map[string]any) *rsa.PrivateKey { return nil })
		return idp.URL
	}, func(c *oidc.Config) {})
	b := newBrowser(t)
	b.stopAt = "/oidc/callback"
	_, challenge := pkce()
	stopped := e.toProvider(b, challenge, "")
	if stopped.status != http.StatusFound {
		t.Fatalf("got %d", stopped.status)
	}
	idp.Close()
	b.stopAt = ""
	assertErrorPage(t, b.get(stopped.location), http.StatusBadGateway, "temporarily_unavailable")
}

// TestProviderMetadataCached: discovery and the JWKS are fetched once for
// many sign-ins, not per callback.
func TestProviderMetadataCached(t *testing.T) {
	var idp *fakeIdP
	e := newEnv(t, func(string) string {
		idp = startFakeIdP(t, func(map[string]any) *rsa.PrivateKey { return nil })
		return idp.URL
	}, nil)
	for range 3 {
		b := newBrowser(t)
		_, challenge := pkce()
		if got := e.toProvider(b, challenge, ""); got.status != http.StatusOK || got.url.Path != "/consent" {
			t.Fatalf("got %d at %s", got.status, got.url)
		}
	}
	idp.mu.Lock()
	defer idp.mu.Unlock()
	if idp.discovery != 1 || idp.jwksHits != 1 {
		t.Errorf("discovery fetched %d times, JWKS %d times, want 1 and 1", idp.discovery, idp.jwksHits)
	}
}
