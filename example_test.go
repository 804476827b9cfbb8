package mcpauth_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/mcpauth/mcpauth"
)

// ExampleNewServer mounts the authorization server on a ServeMux next to an
// MCP endpoint protected by RequireMCPAuth.
func ExampleNewServer() {
	hash, err := mcpauth.HashPassword("s3cret")
	if err != nil {
		log.Fatal(err)
	}
	auth, err := mcpauth.NewServer(mcpauth.Config{
		Issuer:            "http://127.0.0.1:8080",
		Scopes:            []string{"tools:read", "tools:execute"},
		ScopeDescriptions: map[string]string{"tools:read": "See the tools", "tools:execute": "Run the tools"},
		Resources:         []string{"http://127.0.0.1:8080/mcp"},
		Users:             []mcpauth.PasswordUser{{Username: "admin", PasswordHash: hash}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()

	mux := http.NewServeMux()
	mux.Handle("/", auth) // /authorize, /token, /.well-known/…

	// What MCP clients discover first.
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil))
	var meta mcpauth.ServerMetadata
	if err := json.Unmarshal(rec.Body.Bytes(), &meta); err != nil {
		log.Fatal(err)
	}
	fmt.Println(meta.Issuer)
	fmt.Println(meta.TokenEndpoint)
	fmt.Println(meta.CodeChallengeMethodsSupported)
	fmt.Println(meta.ScopesSupported)
	// Output:
	// http://127.0.0.1:8080
	// http://127.0.0.1:8080/token
	// [S256]
	// [tools:read tools:execute offline_access]
}

// ExampleNewServer_underPrefix serves an issuer with a path: endpoints live
// below the path and the metadata at the RFC 8414 §3.1 inserted path.
func ExampleNewServer_underPrefix() {
	auth, err := mcpauth.NewServer(mcpauth.Config{
		Issuer:        "https://example.com/auth",
		Scopes:        []string{"tools:read"},
		Authenticator: hostSignIn{current: currentUser, loginURL: func(back string) string { return "/signin?next=" + back }},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()

	mux := http.NewServeMux()
	mux.Handle("/auth/", auth)
	mux.Handle("/.well-known/oauth-authorization-server/auth", auth)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server/auth", nil))
	var meta mcpauth.ServerMetadata
	_ = json.Unmarshal(rec.Body.Bytes(), &meta)
	fmt.Println(rec.Code, meta.Issuer, meta.AuthorizationEndpoint)
	// Output:
	// 200 https://example.com/auth https://example.com/auth/authorize
}

// currentUser is the host application's own session lookup.
func currentUser(r *http.Request) (mcpauth.User, bool, error) {
	c, err := r.Cookie("host_session")
	if err != nil {
		return mcpauth.User{}, false, nil
	}
	return mcpauth.User{Subject: c.Value}, true, nil
}
