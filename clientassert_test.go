package mcpauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store"
)

func newAssertionKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func assertion(t *testing.T, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestPrivateKeyJWT(t *testing.T) {
	key := newAssertionKey(t)
	jwks := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	keySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { json.NewEncoder(w).Encode(jwks) }))
	defer keySrv.Close()
	e := newEnv(t, func(c *mcpauth.Config) {
		c.StaticClients = append(c.StaticClients,
			store.Client{ID: "jwtbot", JWKS: jwks, ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{"client_credentials"}, Scope: "read"}},
			store.Client{ID: "uribot", JWKSURI: keySrv.URL, ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{"client_credentials"}, Scope: "read"}})
	})
	now := e.clock.Now()
	base := func(client string) map[string]any {
		return map[string]any{"iss": client, "sub": client, "aud": testIssuer, "exp": now.Add(time.Minute).Unix(),
			"iat": now.Unix(), "jti": "jti-" + newVerifier()[:12]}
	}
	with := func(client string, edit func(map[string]any)) map[string]any {
		c := base(client)
		if edit != nil {
			edit(c)
		}
		return c
	}
	post := func(a string, extra url.Values) *http.Response {
		return e.postForm("/token", merge(url.Values{"grant_type": {"client_credentials"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}, extra))
	}
	for _, client := range []string{"jwtbot", "uribot"} {
		good := assertion(t, key, base(client))
		resp := post(good, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: valid assertion: %d %s", client, resp.StatusCode, peek(resp))
		}
		if _, c := jwtParts(t, jsonBody(t, resp)["access_token"].(string)); c["sub"] != client {
			t.Errorf("%s: sub = %v", client, c["sub"])
		}
		// RFC 7523 §3 item 7: the same jti again is refused.
		if code, desc, status := errorOf(t, post(good, nil)); code != "invalid_client" || status != 401 {
			t.Errorf("%s: replay: %d %s %q", client, status, code, desc)
		}
	}
	other := newAssertionKey(t)
	tests := []struct {
		name  string
		a     string
		extra url.Values
	}{
		{"token endpoint as aud", "", nil}, // accepted: see below
		{"wrong aud", assertion(t, key, with("jwtbot", func(c map[string]any) { c["aud"] = "https://elsewhere.example" })), nil},
		{"no exp", assertion(t, key, with("jwtbot", func(c map[string]any) { delete(c, "exp") })), nil},
		{"expired", assertion(t, key, with("jwtbot", func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() })), nil},
		{"exp too far", assertion(t, key, with("jwtbot", func(c map[string]any) { c["exp"] = now.Add(time.Hour).Unix() })), nil},
		{"no jti", assertion(t, key, with("jwtbot", func(c map[string]any) { delete(c, "jti") })), nil},
		{"sub is not the client", assertion(t, key, with("jwtbot", func(c map[string]any) { c["sub"] = "someone" })), nil},
		{"another key", assertion(t, other, base("jwtbot")), nil},
		{"unknown client", assertion(t, key, base("nobody")), nil},
		{"client_id mismatch", assertion(t, key, base("jwtbot")), url.Values{"client_id": {"uribot"}}},
		{"secret client by assertion", assertion(t, key, base("conf")), nil},
		{"wrong assertion type", assertion(t, key, base("jwtbot")), url.Values{"client_assertion_type": {"urn:x"}}},
		{"garbage", "not-a-jwt", nil},
	}
	for _, tc := range tests[1:] {
		t.Run(tc.name, func(t *testing.T) {
			if code, desc, status := errorOf(t, post(tc.a, tc.extra)); code != "invalid_client" || status != 401 {
				t.Errorf("got %d %s %q, want 401 invalid_client", status, code, desc)
			}
		})
	}
	a := assertion(t, key, with("jwtbot", func(c map[string]any) { c["aud"] = testIssuer + "/token" }))
	if resp := post(a, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("aud = the token endpoint: %d %s", resp.StatusCode, peek(resp))
	}
	md := jsonBody(t, e.get("/.well-known/oauth-authorization-server"))
	if !slices.Contains(toStrings(md["token_endpoint_auth_methods_supported"]), "private_key_jwt") {
		t.Error("private_key_jwt is not advertised")
	}
	plain := newEnv(t)
	md = jsonBody(t, plain.get("/.well-known/oauth-authorization-server"))
	if slices.Contains(toStrings(md["token_endpoint_auth_methods_supported"]), "private_key_jwt") {
		t.Error("private_key_jwt advertised without a client that uses it")
	}
}

func TestPrivateKeyJWTConfig(t *testing.T) {
	key := newAssertionKey(t)
	jwks := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1"}}}
	for _, cl := range []store.Client{
		{ID: "a", ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{"client_credentials"}}},
		{ID: "b", JWKS: jwks, JWKSURI: "https://x.example/jwks", ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{"client_credentials"}}},
		{ID: "c", JWKSURI: "http://x.example/jwks", ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{"client_credentials"}}},
		{ID: "d", JWKS: &jose.JSONWebKeySet{}, ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{"client_credentials"}}},
		{ID: "e", JWKS: jwks, ClientSecret: "s", ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: "private_key_jwt", GrantTypes: []string{"client_credentials"}}},
	} {
		if _, err := mcpauth.NewServer(mcpauth.Config{Issuer: testIssuer, StaticClients: []store.Client{cl}}); err == nil {
			t.Errorf("client %s accepted", cl.ID)
		}
	}
}
