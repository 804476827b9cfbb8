package mcpauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mcpauth/mcpauth"
)

// An MCP server at https://mcp.example.com/mcp, protected by an
// authorization server at https://auth.example.com: RFC 9728 metadata at
// the path-based well-known URI, and the middleware in front of /mcp.
func ExampleRequireMCPAuth() {
	const resource = "https://mcp.example.com/mcp"
	mux := http.NewServeMux()

	prmPath, _ := mcpauth.ProtectedResourceMetadataPath(resource)
	mux.Handle(prmPath, mcpauth.ProtectedResourceMetadataHandler(mcpauth.ProtectedResource{
		Resource:             resource,
		AuthorizationServers: []string{"https://auth.example.com"},
		ScopesSupported:      []string{"tools:read", "tools:write"},
		ResourceName:         "Example MCP server",
	}))

	requireAuth := mcpauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{
		VerifierOptions: mcpauth.VerifierOptions{Issuer: "https://auth.example.com", Audience: resource},
		RequiredScopes:  []string{"tools:read"},
	})
	mux.Handle("/mcp", requireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, _ := mcpauth.GrantFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", g.Subject)
	})))

	// A client without a token is told where the metadata is...
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("POST", resource, nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))

	// ...and the metadata names the authorization server.
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "https://mcp.example.com"+prmPath, nil))
	fmt.Print(w.Body)
	// Output:
	// 401 Bearer scope="tools:read", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
	// {"resource":"https://mcp.example.com/mcp","authorization_servers":["https://auth.example.com"],"scopes_supported":["tools:read","tools:write"],"bearer_methods_supported":["header"],"resource_name":"Example MCP server"}
}

// Verifying a token outside HTTP, against a JWKS whose URL and issuer are
// set apart (as with Grantex: keys at api.grantex.dev, iss grantex.dev).
func ExampleNewVerifier() {
	// A stand-in authorization server publishing one ES256 key.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	}))
	defer jwks.Close()
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	mint := func(aud string) string {
		tok, _ := jwt.Signed(signer).Claims(map[string]any{
			"iss": "https://auth.example.com", "sub": "alice", "aud": aud, "jti": "t1",
			"exp": time.Now().Add(time.Hour).Unix(), "scope": "tools:read files",
		}).Serialize()
		return tok
	}

	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{
		JWKSURL:     jwks.URL,
		TokenIssuer: "https://auth.example.com",
		Audience:    "https://mcp.example.com/mcp",
	})
	if err != nil {
		panic(err)
	}
	defer v.Close()

	g, err := v.Verify(context.Background(), mint("https://mcp.example.com/mcp"))
	fmt.Println(g.Subject, g.Scopes, g.Allows("tools:read"), err)

	_, err = v.Verify(context.Background(), mint("https://other.example.com/mcp"))
	var te *mcpauth.TokenError
	fmt.Println(errors.Is(err, mcpauth.ErrInvalidToken), errors.As(err, &te) && te.Description == "token is not meant for this resource")
	// Output:
	// alice [tools:read files] true <nil>
	// true true
}

func ExampleProtectedResourceMetadataURL() {
	for _, resource := range []string{"https://mcp.example.com/mcp", "https://mcp.example.com"} {
		u, _ := mcpauth.ProtectedResourceMetadataURL(resource)
		fmt.Println(u)
	}
	// Output:
	// https://mcp.example.com/.well-known/oauth-protected-resource/mcp
	// https://mcp.example.com/.well-known/oauth-protected-resource
}

func ExampleGrant_Allows() {
	g := &mcpauth.Grant{Scopes: []string{"tools", "files:read"}}
	fmt.Println(g.Allows("tools:call"), g.Allows("files:read"), g.Allows("files:write"), g.Allows("tools:call", "files"))
	// Output: true true false false
}
