package mcpauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/mcpauthtest"
)

// TestOIDCAliasAdvertisesOnlyWhatIsServed: no ID token is ever issued, so no
// discovery document advertises ID-token algorithms or other OpenID Provider
// fields (the old one had id_token_signing_alg_values_supported and
// subject_types_supported); the OpenID Connect paths serve the RFC 8414
// document itself, which the go-sdk's MCP client accepts there.
func TestOIDCAliasAdvertisesOnlyWhatIsServed(t *testing.T) {
	for _, tenant := range []string{"", "/tenant1"} {
		var h http.Handler
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
		t.Cleanup(ts.Close)
		srv, err := mcpauth.NewServer(mcpauth.Config{Issuer: ts.URL + tenant, Scopes: []string{"read"}, Authenticator: mcpauthtest.AutoApprove("u"), Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		h = srv
		paths := []string{"/.well-known/oauth-authorization-server" + tenant, "/.well-known/openid-configuration" + tenant}
		if tenant != "" {
			paths = append(paths, tenant+"/.well-known/openid-configuration")
		}
		var first []byte
		for _, p := range paths {
			resp, err := http.Get(ts.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]json.RawMessage
			err = json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s: %d %v", p, resp.StatusCode, err)
			}
			for k := range doc {
				if strings.HasPrefix(k, "id_token_") || strings.HasPrefix(k, "userinfo_") || strings.HasPrefix(k, "request_object_") ||
					k == "subject_types_supported" || k == "claims_supported" || k == "acr_values_supported" {
					t.Errorf("%s advertises %s, but the server issues no ID tokens", p, k)
				}
			}
			if canon, _ := json.Marshal(doc); first == nil {
				first = canon
			} else if string(canon) != string(first) {
				t.Errorf("%s differs from the RFC 8414 document", p)
			}
			meta, err := oauthex.GetAuthServerMeta(t.Context(), ts.URL+p, ts.URL+tenant, http.DefaultClient)
			if err != nil || meta == nil || meta.Issuer != ts.URL+tenant {
				t.Errorf("%s: the go-sdk client rejects it: %+v, %v", p, meta, err)
			}
		}
	}
}
