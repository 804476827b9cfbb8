package mcpauth_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

func TestNewServerConfigErrors(t *testing.T) {
	h := passwordHash(t)
	user := []mcpauth.PasswordUser{{Username: "alice", PasswordHash: h}}
	auth := hostSignIn{
		current:  func(*http.Request) (mcpauth.User, bool, error) { return mcpauth.User{}, false, nil },
		loginURL: func(string) string { return "/login" },
	}
	// base is a valid config; each case breaks one field.
	base := func() mcpauth.Config {
		return mcpauth.Config{Issuer: "https://auth.example.com", Scopes: []string{"read"}, Users: user,
			RateLimits: &limits.RateLimits{Disabled: true}, Logger: discard}
	}
	tests := []struct {
		name  string
		edit  func(*mcpauth.Config)
		field string
	}{
		{"empty issuer", func(c *mcpauth.Config) { c.Issuer = "" }, "Issuer"},
		{"relative issuer", func(c *mcpauth.Config) { c.Issuer = "/auth" }, "Issuer"},
		{"http non-loopback", func(c *mcpauth.Config) { c.Issuer = "http://auth.example.com" }, "Issuer"},
		{"http private IP", func(c *mcpauth.Config) { c.Issuer = "http://10.0.0.1" }, "Issuer"},
		{"ftp scheme", func(c *mcpauth.Config) { c.Issuer = "ftp://auth.example.com" }, "Issuer"},
		{"trailing slash", func(c *mcpauth.Config) { c.Issuer = "https://auth.example.com/" }, "Issuer"},
		{"path trailing slash", func(c *mcpauth.Config) { c.Issuer = "https://auth.example.com/t1/" }, "Issuer"},
		{"query", func(c *mcpauth.Config) { c.Issuer = "https://auth.example.com?x=1" }, "Issuer"},
		{"fragment", func(c *mcpauth.Config) { c.Issuer = "https://auth.example.com#f" }, "Issuer"},
		{"empty fragment", func(c *mcpauth.Config) { c.Issuer = "https://auth.example.com#" }, "Issuer"},
		{"user info", func(c *mcpauth.Config) { c.Issuer = "https://u:p@auth.example.com" }, "Issuer"},
		{"no scopes", func(c *mcpauth.Config) { c.Scopes = nil }, "Scopes"},
		{"scope with space", func(c *mcpauth.Config) { c.Scopes = []string{"read write"} }, "Scopes"},
		{"scope with quote", func(c *mcpauth.Config) { c.Scopes = []string{`re"ad`} }, "Scopes"},
		{"empty scope", func(c *mcpauth.Config) { c.Scopes = []string{""} }, "Scopes"},
		{"default scope unknown", func(c *mcpauth.Config) { c.DefaultScopes = []string{"admin"} }, "DefaultScopes"},
		{"resource relative", func(c *mcpauth.Config) { c.Resources = []string{"/mcp"} }, "Resources"},
		{"resource fragment", func(c *mcpauth.Config) { c.Resources = []string{"https://mcp.example.com/#x"} }, "Resources"},
		{"allowed redirect javascript", func(c *mcpauth.Config) { c.AllowedRedirectURIs = []string{"javascript:alert(1)"} }, "AllowedRedirectURIs"},
		{"no users nor authenticator", func(c *mcpauth.Config) { c.Users = nil }, "Users"},
		{"users and authenticator", func(c *mcpauth.Config) { c.Authenticator = auth }, "Users"},
		{"user without hash", func(c *mcpauth.Config) { c.Users = []mcpauth.PasswordUser{{Username: "bob"}} }, "Users"},
		{"bad password hash", func(c *mcpauth.Config) {
			c.Users = []mcpauth.PasswordUser{{Username: "bob", PasswordHash: "$2a$10$abcdefghijklmnopqrstuv"}}
		}, "Users"},
		{"plaintext password", func(c *mcpauth.Config) {
			c.Users = []mcpauth.PasswordUser{{Username: "bob", PasswordHash: "hunter2"}}
		}, "Users"},
		{"duplicate username", func(c *mcpauth.Config) { c.Users = append(user, user...) }, "Users"},
		{"bad SigningAlgorithm", func(c *mcpauth.Config) { c.SigningAlgorithm = "HS256" }, "SigningAlgorithm"},
		{"none SigningAlgorithm", func(c *mcpauth.Config) { c.SigningAlgorithm = "none" }, "SigningAlgorithm"},
		{"negative CodeTTL", func(c *mcpauth.Config) { c.CodeTTL = -time.Second }, "CodeTTL"},
		{"negative AccessTokenTTL", func(c *mcpauth.Config) { c.AccessTokenTTL = -time.Second }, "AccessTokenTTL"},
		{"negative RefreshTokenTTL", func(c *mcpauth.Config) { c.RefreshTokenTTL = -time.Second }, "RefreshTokenTTL"},
		{"static client without ID", func(c *mcpauth.Config) {
			c.StaticClients = []store.Client{{ClientMetadata: store.ClientMetadata{RedirectURIs: []string{"https://a.example.com/cb"}}}}
		}, "StaticClients"},
		{"static client without redirect", func(c *mcpauth.Config) {
			c.StaticClients = []store.Client{{ID: "a"}}
		}, "StaticClients"},
		{"static client http redirect", func(c *mcpauth.Config) {
			c.StaticClients = []store.Client{{ID: "a", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{"http://a.example.com/cb"}}}}
		}, "StaticClients"},
		{"static client basic without secret", func(c *mcpauth.Config) {
			c.StaticClients = []store.Client{{ID: "a", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{"https://a.example.com/cb"}, TokenEndpointAuthMethod: "client_secret_basic"}}}
		}, "StaticClients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.edit(&cfg)
			srv, err := mcpauth.NewServer(cfg)
			if err == nil {
				srv.Close()
				t.Fatalf("NewServer accepted the config, want a *ConfigError for %s", tt.field)
			}
			var ce *mcpauth.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %T (%v), want *mcpauth.ConfigError", err, err)
			}
			if ce.Field != tt.field {
				t.Errorf("got field %q (%v), want %q", ce.Field, err, tt.field)
			}
		})
	}
}

func TestNewServerConfigAccepted(t *testing.T) {
	h := passwordHash(t)
	tests := []struct {
		name string
		cfg  mcpauth.Config
	}{
		{"https with users", mcpauth.Config{Issuer: "https://auth.example.com", Scopes: []string{"read"},
			Users: []mcpauth.PasswordUser{{Username: "alice", PasswordHash: h}}}},
		{"https with path", mcpauth.Config{Issuer: "https://auth.example.com/tenant1", Scopes: []string{"read"},
			Users: []mcpauth.PasswordUser{{Username: "alice", PasswordHash: h}}}},
		{"http localhost auto-approve", mcpauth.Config{Issuer: "http://localhost:8080", Scopes: []string{"read"}, Authenticator: mcpauthtest.AutoApprove("t")}},
		{"http 127.0.0.1", mcpauth.Config{Issuer: "http://127.0.0.1", Scopes: []string{"read"}, Authenticator: mcpauthtest.AutoApprove("t")}},
		{"http [::1]", mcpauth.Config{Issuer: "http://[::1]:9000", Scopes: []string{"read"}, Authenticator: mcpauthtest.AutoApprove("t")}},
		{"EdDSA", mcpauth.Config{Issuer: "http://127.0.0.1", Scopes: []string{"read"}, Authenticator: mcpauthtest.AutoApprove("t"), SigningAlgorithm: "EdDSA"}},
		{"RS256", mcpauth.Config{Issuer: "http://127.0.0.1", Scopes: []string{"read"}, Authenticator: mcpauthtest.AutoApprove("t"), SigningAlgorithm: "RS256"}},
		{"authenticator", mcpauth.Config{Issuer: "https://auth.example.com", Scopes: []string{"read"},
			Authenticator: hostSignIn{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Logger = discard
			srv, err := mcpauth.NewServer(tt.cfg)
			if err != nil {
				t.Fatalf("NewServer: %v", err)
			}
			defer srv.Close()
			if got := srv.Issuer(); got != tt.cfg.Issuer {
				t.Errorf("Issuer() = %q, want %q", got, tt.cfg.Issuer)
			}
		})
	}
}

// TestServerRouting: wrong methods are 405 with Allow and an OAuth body,
// unknown paths are 404 OAuth JSON.
func TestServerRouting(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/token", 405, "POST"},
		{http.MethodPut, "/token", 405, "POST"},
		{http.MethodGet, "/introspect", 405, "POST"},
		{http.MethodGet, "/revoke", 405, "POST"},
		{http.MethodGet, "/register", 405, "POST"},
		{http.MethodDelete, "/authorize", 405, "GET, POST"},
		{http.MethodPut, "/login", 405, "GET, POST"},
		{http.MethodPatch, "/consent", 405, "GET, POST"},
		{http.MethodPost, "/callback", 404, ""}, // managed mode only: see TestManagedOnlyRoutes
		{http.MethodGet, "/callback", 404, ""},
		{http.MethodPost, "/.well-known/jwks.json", 405, "GET, HEAD"},
		{http.MethodGet, "/", 404, ""},
		{http.MethodGet, "/nope", 404, ""},
		{http.MethodPost, "/token/extra", 404, ""},
		{http.MethodGet, "/.well-known/unknown", 404, ""},
		{http.MethodGet, "/.well-known/oauth-authorization-server/extra", 404, ""},
		{http.MethodGet, "/assets/missing.css", 404, ""},
		{http.MethodGet, "/assets/", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp := e.serve(e.req(tt.method, tt.path, nil))
			code, status := oauthError(t, resp)
			if status != tt.status || code == "" || resp.Header.Get("Allow") != tt.allow {
				t.Errorf("got (%q, %d, Allow %q), want (an OAuth error, %d, Allow %q)", code, status, resp.Header.Get("Allow"), tt.status, tt.allow)
			}
		})
	}
	t.Run("stylesheet", func(t *testing.T) {
		resp := e.get("/assets/style.css")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
			t.Errorf("got (%d, %q), want (200, text/css)", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
	t.Run("CORS preflight on token", func(t *testing.T) {
		resp := e.serve(e.req(http.MethodOptions, "/token", nil))
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("got (%d, %v), want 204 with CORS headers", resp.StatusCode, resp.Header)
		}
	})
}

// TestMalformedRequests: every endpoint answers bad input in its protocol's
// format: a 4xx, never a 5xx or a panic, never a redirect.
func TestMalformedRequests(t *testing.T) {
	e := newEnv(t, withUsers(t))
	huge := "token=" + strings.Repeat("a", 70<<10)
	bodies := []struct {
		name, contentType, body string
	}{
		{"invalid JSON", "application/json", `{"token":`},
		{"JSON array", "application/json", `["token","x"]`},
		{"JSON scalar", "application/json", `42`},
		{"JSON nested object", "application/json", `{"token":{"a":1},"grant_type":{"x":[1]}}`},
		{"JSON array of numbers", "application/json", `{"token":[1,2]}`},
		{"JSON bool and number", "application/json", `{"token":true,"grant_type":1e400}`},
		{"JSON duplicate values", "application/json", `{"token":["a","b"],"client_id":["x","y"]}`},
		{"huge form", "application/x-www-form-urlencoded", huge},
		{"huge JSON", "application/json", `{"token":"` + strings.Repeat("a", 70<<10) + `"}`},
		{"text/plain", "text/plain", "token=x"},
		{"multipart", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nx\r\n--x--\r\n"},
		{"bad media type", "application/x-www-form-urlencoded; ===", "token=x"},
		{"bad percent-encoding", "application/x-www-form-urlencoded", "token=%zz&client_id=%"},
		{"duplicate params", "application/x-www-form-urlencoded", "token=a&token=b&grant_type=x&grant_type=y&client_id=pub&client_id=pub"},
		{"semicolon separator", "application/x-www-form-urlencoded", "token=a;client_id=pub"},
		{"NUL bytes", "application/x-www-form-urlencoded", "token=%00%00&client_id=%00"},
		{"invalid UTF-8", "application/x-www-form-urlencoded", "token=%ff%fe&client_id=%c3%28"},
		{"empty with content type", "application/x-www-form-urlencoded", ""},
		{"empty without content type", "", ""},
	}
	paths := []string{"/token", "/introspect", "/revoke", "/register", "/authorize", "/login", "/consent"}
	for _, p := range paths {
		for _, b := range bodies {
			t.Run(p+" "+b.name, func(t *testing.T) {
				resp := e.postRaw(p, b.contentType, b.body, "Accept", "application/json")
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Fatalf("got %d, want a 4xx (%.200s)", resp.StatusCode, peek(resp))
				}
				if loc := resp.Header.Get("Location"); loc != "" {
					t.Errorf("redirected to %s", loc)
				}
				if code, _ := oauthError(t, resp); code == "" {
					t.Errorf("no OAuth error code in %.200s", peek(resp))
				}
			})
		}
	}
	t.Run("GET with bad query", func(t *testing.T) {
		for _, p := range []string{"/authorize?%zz", "/login?req=%", "/consent?req=a&req=b"} {
			resp := e.get(p, "Accept", "text/html")
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || resp.Header.Get("Location") != "" {
				t.Errorf("GET %s: got (%d, %q), want a 4xx page", p, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	})
}
