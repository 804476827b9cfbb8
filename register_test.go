package mcpauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
)

func TestRegisterSuccess(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		body       map[string]any
		wantSecret bool
		wantGrants []string
		wantApp    string
	}{
		{"defaults (seed test)", map[string]any{"redirect_uris": []string{"https://app.example.com/cb"}},
			true, []string{"authorization_code"}, "web"},
		{"public client", map[string]any{"redirect_uris": []string{"http://127.0.0.1:1234/cb"}, "token_endpoint_auth_method": "none"},
			false, []string{"authorization_code"}, "native"},
		{"localhost without port", map[string]any{"redirect_uris": []string{"http://localhost/cb"}, "token_endpoint_auth_method": "none"},
			false, []string{"authorization_code"}, "native"},
		{"IPv6 loopback", map[string]any{"redirect_uris": []string{"http://[::1]:8080/cb"}, "token_endpoint_auth_method": "none"},
			false, []string{"authorization_code"}, "native"},
		{"private-use scheme", map[string]any{"redirect_uris": []string{"com.example.app:/cb"}, "token_endpoint_auth_method": "none"},
			false, []string{"authorization_code"}, "native"},
		{"refresh grant, post auth", map[string]any{"redirect_uris": []string{"https://app.example.com/cb"},
			"grant_types": []string{"refresh_token", "authorization_code"}, "token_endpoint_auth_method": "client_secret_post"},
			true, []string{"authorization_code", "refresh_token"}, "web"},
		{"web loopback (MCP Inspector)", map[string]any{"redirect_uris": []string{"http://localhost:6274/oauth/callback"},
			"application_type": "web", "token_endpoint_auth_method": "none", "client_name": "MCP Inspector", "scope": "read offline_access"},
			false, []string{"authorization_code"}, "web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.postJSON("/register", tt.body)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("got %d, want 201 (body %s)", resp.StatusCode, peek(resp))
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			m := jsonBody(t, resp)
			id, _ := m["client_id"].(string)
			sec, hasSecret := m["client_secret"].(string)
			if id == "" || hasSecret != tt.wantSecret || (tt.wantSecret && len(sec) < 43) {
				t.Fatalf("got (client_id %q, client_secret %q), want an id and secret=%v", id, sec, tt.wantSecret)
			}
			if iat, _ := m["client_id_issued_at"].(float64); int64(iat) != testEpoch.Unix() {
				t.Errorf("client_id_issued_at %v, want %d", m["client_id_issued_at"], testEpoch.Unix())
			}
			if tt.wantSecret {
				if exp, ok := m["client_secret_expires_at"].(float64); !ok || exp != 0 {
					t.Errorf("client_secret_expires_at %v, want 0", m["client_secret_expires_at"])
				}
			}
			var grants, uris []string
			for _, g := range m["grant_types"].([]any) {
				grants = append(grants, g.(string))
			}
			for _, u := range m["redirect_uris"].([]any) {
				uris = append(uris, u.(string))
			}
			if !slices.Equal(grants, tt.wantGrants) {
				t.Errorf("grant_types %q, want %q", grants, tt.wantGrants)
			}
			if want := tt.body["redirect_uris"].([]string); !slices.Equal(uris, want) {
				t.Errorf("redirect_uris %q, want %q echoed", uris, want)
			}
			if m["application_type"] != tt.wantApp {
				t.Errorf("application_type %v, want %s", m["application_type"], tt.wantApp)
			}
			// The store holds the digest only.
			c, err := e.clients.GetClient(context.Background(), id)
			if err != nil {
				t.Fatalf("stored client: %v", err)
			}
			if c.ClientSecret != "" {
				t.Errorf("store holds the secret in clear")
			}
			if tt.wantSecret {
				sum := sha256.Sum256([]byte(sec))
				if !slices.Equal(c.SecretDigest, sum[:]) {
					t.Errorf("stored SecretDigest is not SHA-256 of the secret")
				}
				raw, _ := json.Marshal(c)
				if strings.Contains(string(raw), sec) {
					t.Errorf("stored client serializes the clear secret: %s", raw)
				}
			} else if len(c.SecretDigest) != 0 {
				t.Errorf("public client has a SecretDigest")
			}
		})
	}
}

// TestRegisterRejections: RFC 7591 §3.2.2. Deviation from the seed's test:
// missing or empty redirect_uris answer invalid_redirect_uri (the seed says
// invalid_client_metadata; both are §3.2.2 codes, and the redirect URI is
// what is wrong).
func TestRegisterRejections(t *testing.T) {
	e := newEnv(t, func(c *mcpauth.Config) {})
	restricted := newEnv(t, func(c *mcpauth.Config) {
		c.AllowedRedirectURIs = []string{"https://allowed.example.com/cb", "http://127.0.0.1/cb"}
	})
	ok := []string{"https://app.example.com/cb"}
	tests := []struct {
		name string
		e    *env
		body map[string]any
		want string
	}{
		{"missing redirect_uris", e, map[string]any{"client_name": "x"}, "invalid_redirect_uri"},
		{"empty redirect_uris", e, map[string]any{"redirect_uris": []string{}}, "invalid_redirect_uri"},
		{"empty string redirect", e, map[string]any{"redirect_uris": []string{""}}, "invalid_redirect_uri"},
		{"javascript:", e, map[string]any{"redirect_uris": []string{"javascript:alert(1)"}}, "invalid_redirect_uri"},
		{"JavaScript: upper", e, map[string]any{"redirect_uris": []string{"JAVASCRIPT://%0aalert(1)"}}, "invalid_redirect_uri"},
		{"data:", e, map[string]any{"redirect_uris": []string{"data:text/html,<script>alert(1)</script>"}}, "invalid_redirect_uri"},
		{"file:", e, map[string]any{"redirect_uris": []string{"file:///etc/passwd"}}, "invalid_redirect_uri"},
		{"vbscript:", e, map[string]any{"redirect_uris": []string{"vbscript:msgbox(1)"}}, "invalid_redirect_uri"},
		{"private scheme without dot", e, map[string]any{"redirect_uris": []string{"myapp:/cb"}}, "invalid_redirect_uri"},
		{"private scheme with host", e, map[string]any{"redirect_uris": []string{"com.example.app://evil.com/cb"}}, "invalid_redirect_uri"},
		{"http non-loopback", e, map[string]any{"redirect_uris": []string{"http://app.example.com/cb"}}, "invalid_redirect_uri"},
		{"http loopback lookalike", e, map[string]any{"redirect_uris": []string{"http://127.0.0.1.evil.com/cb"}}, "invalid_redirect_uri"},
		{"fragment", e, map[string]any{"redirect_uris": []string{"https://app.example.com/cb#frag"}}, "invalid_redirect_uri"},
		{"empty fragment", e, map[string]any{"redirect_uris": []string{"https://app.example.com/cb#"}}, "invalid_redirect_uri"},
		{"user info", e, map[string]any{"redirect_uris": []string{"https://user:pw@app.example.com/cb"}}, "invalid_redirect_uri"},
		{"relative", e, map[string]any{"redirect_uris": []string{"/cb"}}, "invalid_redirect_uri"},
		{"one bad among good", e, map[string]any{"redirect_uris": []string{"https://app.example.com/cb", "javascript:x"}}, "invalid_redirect_uri"},
		{"too many", e, map[string]any{"redirect_uris": slices.Repeat(ok, 21)}, "invalid_redirect_uri"},
		{"redirect not a list", e, map[string]any{"redirect_uris": "https://app.example.com/cb"}, "invalid_client_metadata"},
		{"grant password", e, map[string]any{"redirect_uris": ok, "grant_types": []string{"authorization_code", "password"}}, "invalid_client_metadata"},
		{"grant client_credentials", e, map[string]any{"redirect_uris": ok, "grant_types": []string{"client_credentials"}}, "invalid_client_metadata"},
		{"grant implicit", e, map[string]any{"redirect_uris": ok, "grant_types": []string{"implicit"}}, "invalid_client_metadata"},
		{"only refresh_token", e, map[string]any{"redirect_uris": ok, "grant_types": []string{"refresh_token"}}, "invalid_client_metadata"},
		{"response_types token", e, map[string]any{"redirect_uris": ok, "response_types": []string{"token"}}, "invalid_client_metadata"},
		{"response_types code token", e, map[string]any{"redirect_uris": ok, "response_types": []string{"code", "token"}}, "invalid_client_metadata"},
		{"auth method private_key_jwt", e, map[string]any{"redirect_uris": ok, "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"},
		{"auth method bogus", e, map[string]any{"redirect_uris": ok, "token_endpoint_auth_method": "magic"}, "invalid_client_metadata"},
		{"jwks_uri", e, map[string]any{"redirect_uris": ok, "jwks_uri": "https://app.example.com/jwks"}, "invalid_client_metadata"},
		{"application_type bad", e, map[string]any{"redirect_uris": ok, "application_type": "desktop"}, "invalid_client_metadata"},
		{"unsupported scope", e, map[string]any{"redirect_uris": ok, "scope": "read admin"}, "invalid_client_metadata"},
		{"logo_uri javascript", e, map[string]any{"redirect_uris": ok, "logo_uri": "javascript:alert(1)"}, "invalid_client_metadata"},
		{"client_uri http", e, map[string]any{"redirect_uris": ok, "client_uri": "http://app.example.com"}, "invalid_client_metadata"},
		// The rules shared with client ID metadata documents (clientmeta).
		{"tos_uri with user info", e, map[string]any{"redirect_uris": ok, "tos_uri": "https://u:p@app.example.com/tos"}, "invalid_client_metadata"},
		{"policy_uri with a quote", e, map[string]any{"redirect_uris": ok, "policy_uri": `https://app.example.com/"p`}, "invalid_client_metadata"},
		{"too many contacts", e, map[string]any{"redirect_uris": ok, "contacts": strings.Split(strings.Repeat("a@x.example ", 11), " ")[:11]}, "invalid_client_metadata"},
		{"client_name too long", e, map[string]any{"redirect_uris": ok, "client_name": strings.Repeat("n", 201)}, "invalid_client_metadata"},
		{"wrong type", e, map[string]any{"redirect_uris": ok, "client_name": 42}, "invalid_client_metadata"},
		{"not in AllowedRedirectURIs", restricted, map[string]any{"redirect_uris": ok}, "invalid_redirect_uri"},
		{"AllowedRedirectURIs prefix is not enough", restricted, map[string]any{"redirect_uris": []string{"https://allowed.example.com/cb/evil"}}, "invalid_redirect_uri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.e.postJSON("/register", tt.body)
			if code, status := oauthError(t, resp); code != tt.want || status != 400 {
				t.Errorf("got (%q, %d), want (%q, %d): %s", code, status, tt.want, 400, errDesc(t, resp))
			}
		})
	}
	t.Run("AllowedRedirectURIs accepts listed, loopback any port", func(t *testing.T) {
		for _, u := range []string{"https://allowed.example.com/cb", "http://127.0.0.1:4567/cb"} {
			resp := restricted.postJSON("/register", map[string]any{"redirect_uris": []string{u}})
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("%s: got %d, want 201 (%s)", u, resp.StatusCode, peek(resp))
			}
		}
	})
}

func TestRegisterBadBodies(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, contentType, body string
		status                  int
		want                    string
	}{
		{"not JSON", "application/json", "redirect_uris=https://a", 400, "invalid_client_metadata"},
		{"JSON array", "application/json", `["https://app.example.com/cb"]`, 400, "invalid_client_metadata"},
		{"JSON string", "application/json", `"x"`, 400, "invalid_client_metadata"},
		{"truncated JSON", "application/json", `{"redirect_uris":["https://a`, 400, "invalid_client_metadata"},
		{"empty body", "application/json", ``, 400, "invalid_client_metadata"},
		{"null", "application/json", `null`, 400, "invalid_redirect_uri"},
		{"form content type", "application/x-www-form-urlencoded", "redirect_uris=https%3A%2F%2Fa.example.com%2Fcb", 400, "invalid_client_metadata"},
		{"text/plain", "text/plain", `{"redirect_uris":["https://app.example.com/cb"]}`, 400, "invalid_client_metadata"},
		{"no content type", "", `{"redirect_uris":["https://app.example.com/cb"]}`, 400, "invalid_client_metadata"},
		{"oversized", "application/json", `{"client_name":"` + strings.Repeat("a", 64<<10) + `","redirect_uris":["https://app.example.com/cb"]}`, 400, "invalid_client_metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.postRaw("/register", tt.contentType, tt.body)
			if code, status := oauthError(t, resp); code != tt.want || status != tt.status {
				t.Errorf("got (%q, %d), want (%q, %d)", code, status, tt.want, tt.status)
			}
		})
	}
	t.Run("GET is 405", func(t *testing.T) {
		resp := e.get("/register")
		if code, status := oauthError(t, resp); status != 405 || resp.Header.Get("Allow") != "POST" {
			t.Errorf("got (%q, %d, Allow %q), want (405, Allow POST)", code, status, resp.Header.Get("Allow"))
		}
	})
	t.Run("disabled registration is 404", func(t *testing.T) {
		d := newEnv(t, func(c *mcpauth.Config) { c.DisableRegistration = true })
		resp := d.postJSON("/register", map[string]any{"redirect_uris": []string{"https://app.example.com/cb"}})
		if code, status := oauthError(t, resp); status != 404 {
			t.Errorf("got (%q, %d), want 404", code, status)
		}
	})
}

// TestRegisteredClientWorks: a DCR client completes authorize and token,
// confidential with its secret and public without.
func TestRegisteredClientWorks(t *testing.T) {
	e := newEnv(t)
	for _, method := range []string{"none", "client_secret_basic", "client_secret_post"} {
		t.Run(method, func(t *testing.T) {
			resp := e.postJSON("/register", map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"},
				"token_endpoint_auth_method": method, "grant_types": []string{"authorization_code", "refresh_token"}})
			m := jsonBody(t, resp)
			id, _ := m["client_id"].(string)
			sec, _ := m["client_secret"].(string)
			c, v := e.code(id, "http://127.0.0.1:5555/cb", nil)
			form := tokenReq(id, c, v, "http://127.0.0.1:5555/cb")
			var hdr []string
			switch method {
			case "client_secret_basic":
				form.Del("client_id")
				hdr = []string{"Authorization", basic(id, sec)}
			case "client_secret_post":
				form.Set("client_secret", sec)
			}
			resp = e.postForm("/token", form, hdr...)
			if resp.StatusCode != 200 {
				t.Fatalf("token: got %d, want 200 (%s)", resp.StatusCode, peek(resp))
			}
			if rt, _ := jsonBody(t, resp)["refresh_token"].(string); rt == "" {
				t.Errorf("no refresh token for a client that registered refresh_token")
			}
		})
	}
}
