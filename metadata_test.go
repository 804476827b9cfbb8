package mcpauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/mcpauthtest"
)

func TestMetadataPaths(t *testing.T) {
	root := newEnv(t)
	tenant := newEnv(t, func(c *mcpauth.Config) { c.Issuer = testIssuer + "/tenant1" })
	tests := []struct {
		name   string
		e      *env
		path   string // absolute path on the host
		status int
	}{
		{"root RFC 8414", root, "/.well-known/oauth-authorization-server", 200},
		{"root OIDC alias", root, "/.well-known/openid-configuration", 200},
		{"root JWKS", root, "/.well-known/jwks.json", 200},
		{"tenant RFC 8414 path insertion", tenant, "/.well-known/oauth-authorization-server/tenant1", 200},
		{"tenant OIDC path insertion", tenant, "/.well-known/openid-configuration/tenant1", 200},
		{"tenant OIDC appended", tenant, "/tenant1/.well-known/openid-configuration", 200},
		{"tenant RFC 8414 appended", tenant, "/tenant1/.well-known/oauth-authorization-server", 200},
		{"tenant JWKS", tenant, "/tenant1/.well-known/jwks.json", 200},
		{"tenant root well-known is not ours", tenant, "/.well-known/oauth-authorization-server", 404},
		{"tenant root OIDC is not ours", tenant, "/.well-known/openid-configuration", 404},
		{"other tenant", tenant, "/.well-known/oauth-authorization-server/tenant2", 404},
		{"root JWKS for tenant", tenant, "/.well-known/jwks.json", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.e.serve(httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8765"+tt.path, nil))
			if resp.StatusCode != tt.status {
				t.Fatalf("got %d, want %d (body %.200s)", resp.StatusCode, tt.status, peek(resp))
			}
			if tt.status == 200 && strings.HasSuffix(tt.path, "jwks.json") {
				if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
					t.Errorf("Content-Type %q, want application/jwk-set+json", ct)
				}
				return
			}
			m := jsonBody(t, resp)
			if tt.status == 404 {
				if m["error"] == nil {
					t.Errorf("404 without an OAuth error body: %v", m)
				}
				return
			}
			if m["issuer"] != tt.e.issuer {
				t.Errorf("issuer %q, want %q", m["issuer"], tt.e.issuer)
			}
		})
	}
}

// TestMetadataTenantOverHTTP fetches the path-aware documents over a real
// listener, with the issuer taken from the listener's port.
func TestMetadataTenantOverHTTP(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String() + "/tenant1"
	srv, err := mcpauth.NewServer(mcpauth.Config{Issuer: issuer, Scopes: []string{"read"}, Authenticator: mcpauthtest.AutoApprove("t"), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	ts.Config.Handler = mux
	ts.Start()
	defer ts.Close()
	host := "http://" + ts.Listener.Addr().String()
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/.well-known/oauth-authorization-server/tenant1", 200},
		{"/tenant1/.well-known/openid-configuration", 200},
		{"/.well-known/oauth-authorization-server", 404},
	} {
		resp, err := http.Get(host + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("GET %s: got %d, want %d", tt.path, resp.StatusCode, tt.status)
			continue
		}
		if tt.status == 200 {
			if m["issuer"] != issuer || m["token_endpoint"] != issuer+"/token" {
				t.Errorf("GET %s: got (%q, %q), want (%q, %q)", tt.path, m["issuer"], m["token_endpoint"], issuer, issuer+"/token")
			}
		}
	}
}

// TestMetadataFields: the seed's metadata.test.ts plus what the port adds.
// Deviation: scopes_supported is the configured scopes plus offline_access
// (which asks for a refresh token), not the configured scopes alone.
func TestMetadataFields(t *testing.T) {
	const iss = "https://auth.example.com"
	base := func(c *mcpauth.Config) { c.Issuer, c.Authenticator = iss, nil }
	h := passwordHash(t)
	users := func(c *mcpauth.Config) { c.Users = []mcpauth.PasswordUser{{Username: "alice", PasswordHash: h}} }
	noRes := func(c *mcpauth.Config) { c.Resources = nil }
	noReg := func(c *mcpauth.Config) { c.DisableRegistration = true }
	get := func(t *testing.T, edits ...func(*mcpauth.Config)) map[string]any {
		e := newEnv(t, append([]func(*mcpauth.Config){base, users}, edits...)...)
		resp := e.get("/.well-known/oauth-authorization-server")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return jsonBody(t, resp)
	}
	m := get(t)
	strs := func(k string) []string {
		var out []string
		for _, x := range m[k].([]any) {
			out = append(out, x.(string))
		}
		return out
	}
	t.Run("seed fields", func(t *testing.T) {
		want := map[string]any{
			"issuer":                 iss,
			"authorization_endpoint": iss + "/authorize",
			"token_endpoint":         iss + "/token",
			"registration_endpoint":  iss + "/register",
			"introspection_endpoint": iss + "/introspect",
			"revocation_endpoint":    iss + "/revoke",
			"jwks_uri":               iss + "/.well-known/jwks.json",
			"authorization_response_iss_parameter_supported": true,
			"resource_indicators_supported":                  true,
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s: got %v, want %v", k, m[k], v)
			}
		}
		for k, v := range map[string][]string{
			"response_types_supported":              {"code"},
			"grant_types_supported":                 {"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"},
			"code_challenge_methods_supported":      {"S256"},
			"token_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post", "none"},
			"scopes_supported":                      {"read", "write", "offline_access"},
		} {
			if got := strs(k); !slices.Equal(got, v) {
				t.Errorf("%s: got %q, want %q", k, got, v)
			}
		}
		if slices.Contains(strs("introspection_endpoint_auth_methods_supported"), "none") {
			t.Errorf("introspection advertises none although anonymous introspection is off")
		}
	})
	t.Run("no resources: key absent", func(t *testing.T) {
		if v, ok := get(t, noRes)["resource_indicators_supported"]; ok {
			t.Errorf("resource_indicators_supported = %v, want absent", v)
		}
	})
	t.Run("registration disabled: key absent", func(t *testing.T) {
		if v, ok := get(t, noReg)["registration_endpoint"]; ok {
			t.Errorf("registration_endpoint = %v, want absent", v)
		}
	})
	t.Run("anonymous introspection advertised", func(t *testing.T) {
		m := get(t, func(c *mcpauth.Config) { c.AllowAnonymousIntrospection = true })
		var got []string
		for _, x := range m["introspection_endpoint_auth_methods_supported"].([]any) {
			got = append(got, x.(string))
		}
		if !slices.Contains(got, "none") {
			t.Errorf("got %q, want none included", got)
		}
	})
	t.Run("offline_access not duplicated", func(t *testing.T) {
		m := get(t, func(c *mcpauth.Config) { c.Scopes = []string{"read", "offline_access"} })
		if n := len(m["scopes_supported"].([]any)); n != 2 {
			t.Errorf("scopes_supported %v, want 2 entries", m["scopes_supported"])
		}
	})
	t.Run("extensions only for what is served", func(t *testing.T) {
		ext, _ := m["grantex_extensions"].(map[string]any)
		for k, v := range ext {
			if k != "consent_ui" {
				t.Errorf("grantex_extensions advertises %s = %v, which is not served", k, v)
			}
		}
	})
}

func TestMetadataHTTP(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		method string
		path   string
		status int
		allow  string
	}{
		{"GET", http.MethodGet, "/.well-known/oauth-authorization-server", 200, ""},
		{"HEAD", http.MethodHead, "/.well-known/oauth-authorization-server", 200, ""},
		{"POST", http.MethodPost, "/.well-known/oauth-authorization-server", 405, "GET, HEAD"},
		{"DELETE OIDC", http.MethodDelete, "/.well-known/openid-configuration", 405, "GET, HEAD"},
		{"POST JWKS", http.MethodPost, "/.well-known/jwks.json", 405, "GET, HEAD"},
		{"OPTIONS preflight", http.MethodOptions, "/.well-known/oauth-authorization-server", 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.req(tt.method, tt.path, nil)
			r.Header.Set("Origin", "https://inspector.example")
			resp := e.serve(r)
			if resp.StatusCode != tt.status {
				t.Fatalf("got %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin %q, want *", got)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			if tt.status == 405 {
				if code, _ := oauthError(t, resp); code != "invalid_request" {
					t.Errorf("405 body error %q, want invalid_request", code)
				}
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, func(c *mcpauth.Config) { c.SigningAlgorithm = alg })
			resp := e.get("/.well-known/jwks.json")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
				t.Errorf("Cache-Control %q, want a max-age", cc)
			}
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal([]byte(peek(resp)), &set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != 1 {
				t.Fatalf("got %d keys, want 1", len(set.Keys))
			}
			k := set.Keys[0]
			for _, priv := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := k[priv]; ok {
					t.Errorf("JWKS leaks private member %q", priv)
				}
			}
			// The kid in the JWKS is the one access tokens carry.
			hdr, _ := jwtParts(t, e.tokens("pub1", nil)["access_token"].(string))
			if k["kid"] == nil || k["kid"] != hdr["kid"] || k["alg"] != alg || hdr["alg"] != alg {
				t.Errorf("got (kid %v, alg %v), token header (kid %v, alg %v), want equal and alg %s", k["kid"], k["alg"], hdr["kid"], hdr["alg"], alg)
			}
		})
	}
}
