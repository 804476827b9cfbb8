package interop

import (
	"testing"

	"github.com/mcpauth/mcpauth/internal/testop"
)

// TestInteropUpstreamOIDC is the browser journey through an upstream
// OpenID provider (zitadel/oidc's op, in this process, on another site:
// localhost vs 127.0.0.1): the TypeScript SDK's client gets the
// authorization URL, Chromium clicks "Continue with Zitadel", signs in at
// the provider's page, approves our consent page, and the client's tool
// calls succeed as the provider's user.
func TestInteropUpstreamOIDC(t *testing.T) {
	node := requireBrowserTools(t)
	port := freePort(t)
	op := testop.StartHost(t, "localhost", []string{"http://127.0.0.1:" + port + "/oidc/callback"})
	s := startServer(t, "-addr", "127.0.0.1:"+port, "-store", "memory:",
		"-oidc-issuer", op.Issuer, "-oidc-client-id", testop.ClientID, "-oidc-client-secret", testop.ClientSecret,
		"-oidc-name", "Zitadel", "-oidc-allowed-domain", "example.com")
	runNode(t, node, "tssdk.mjs",
		"MCP_URL="+s.mcpURL, "ISSUER="+s.issuer, "PORT="+freePort(t), "PROVIDER=Zitadel", "LABEL=upstream-oidc",
		"USERNAME="+testop.Alice.Username, "PASSWORD="+testop.Password, "EXPECT_SUB="+op.Issuer+"#"+testop.Alice.ID,
		"ARTIFACTS_DIR="+artifactsDir(t))
}
