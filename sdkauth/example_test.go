package sdkauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/sdkauth"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// newWhoamiServer is an MCP server whose whoami tool reports the caller's grant.
func newWhoamiServer() *mcp.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "whoami", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "Report who is calling"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			g, ok := sdkauth.GrantFromRequest(req)
			if !ok {
				return nil, nil, fmt.Errorf("unauthenticated")
			}
			text := fmt.Sprintf("%s (client %s, scopes %v)", g.Subject, g.ClientID, g.Scopes)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
		})
	return server
}

// The SDK's own bearer middleware, with mcpauth verifying the tokens.
func Example_requireBearerToken() {
	is := startIssuer() // a stand-in authorization server
	defer is.srv.Close()

	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{
		JWKSURL:     is.url + "/.well-known/jwks.json",
		TokenIssuer: is.url,
		Audience:    "https://mcp.example.com/mcp",
	})
	if err != nil {
		panic(err)
	}
	defer v.Close()

	server := newWhoamiServer()
	handler := auth.RequireBearerToken(sdkauth.TokenVerifier(v), &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
		Scopes:              []string{"tools:read"},
	})(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	ts := httptest.NewServer(handler)
	defer ts.Close()

	text, err := callWhoami(nil, ts.URL, is.token("alice", "tools:read", time.Hour))
	fmt.Println(text, err)
	// Output: alice (client client-1, scopes [tools:read]) <nil>
}

// mcpauth's middleware in front of the SDK handler: RFC 6750 challenges
// (including insufficient_scope for step-up), 503 while keys are
// unavailable, and the SDK's TokenInfo still set for session binding.
func Example_requireMCPAuth() {
	is := startIssuer()
	defer is.srv.Close()

	server := newWhoamiServer()
	handler := sdkauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{
		VerifierOptions: mcpauth.VerifierOptions{JWKSURL: is.url + "/.well-known/jwks.json", TokenIssuer: is.url, Audience: "https://mcp.example.com/mcp"},
		RequiredScopes:  []string{"tools:read"},
	})(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	ts := httptest.NewServer(handler)
	defer ts.Close()

	text, err := callWhoami(nil, ts.URL, is.token("alice", "tools", time.Hour))
	fmt.Println(text, err)

	req, _ := http.NewRequest("POST", ts.URL, nil)
	req.Header.Set("Authorization", "Bearer "+is.token("bob", "files", time.Hour))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	// Output:
	// alice (client client-1, scopes [tools]) <nil>
	// 403 Bearer error="insufficient_scope", error_description="the token lacks a required scope: tools:read", scope="tools:read", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
}
