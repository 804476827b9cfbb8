// Command mcpserver is an MCP server written with the MCP Go SDK and
// protected end to end by mcpauth, on one ServeMux:
//
//   - the authorization server (mcpauth.NewServer): RFC 8414 metadata, client
//     registration, sign-in and consent, tokens, revocation, JWKS;
//   - the RFC 9728 protected resource metadata of the MCP endpoint;
//   - the MCP endpoint /mcp (streamable HTTP) behind sdkauth.RequireMCPAuth,
//     verifying tokens in process (no HTTP, revocations honoured at once).
//
// Its tool whoami reports the caller's grant; it needs the endpoint's scope,
// tools:read. Its tool add needs tools:execute as well: a client holding
// only tools:read gets 403 insufficient_scope naming both, and steps up
// (MCP 2025-11-25 §Step-Up Authorization Flow). Run it and point an MCP
// client (e.g. the MCP Inspector) at http://localhost:8080/mcp; sign in as
// "demo" with the password printed at start-up (or set MCPSERVER_PASSWORD).
//
//	go run ./examples/mcpserver -addr localhost:8080
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/sdkauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "listen address")
	base := flag.String("url", "", "public base URL (default http://<addr>); the issuer, and <url>/mcp the MCP endpoint")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *base == "" {
		*base = "http://" + *addr
	}
	password := os.Getenv("MCPSERVER_PASSWORD")
	if password == "" {
		password = rand.Text()[:12]
		log.Info("sign in as demo", "password", password)
	}
	handler, closeFn, err := newHandler(config{BaseURL: *base, Password: password, Logger: log})
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	defer closeFn()

	srv := &http.Server{Addr: *addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("listening", "mcp", *base+"/mcp", "issuer", *base)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}

// config is what newHandler needs.
type config struct {
	// BaseURL is the public origin (and path prefix, if any) of the server.
	BaseURL  string
	Password string // the demo user's password
	// Authenticator, when set, replaces the demo user's sign-in page
	// (tests pass mcpauthtest.AutoApprove).
	Authenticator mcpauth.Authenticator
	Logger        *slog.Logger
}

// newHandler builds the whole server: authorization server, resource
// metadata and the protected MCP endpoint. Call closeFn when done.
func newHandler(cfg config) (h http.Handler, closeFn func(), err error) {
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	resource := base + "/mcp" // the canonical URL clients connect to, and the token audience
	// Every request to /mcp needs endpointScopes; calling a tool in
	// toolScopes needs that tool's scopes too.
	endpointScopes := []string{"tools:read"}
	toolScopes := map[string][]string{"add": {"tools:execute"}}
	scopes := []string{"tools:read", "tools:execute"}

	hash, err := mcpauth.HashPassword(cfg.Password)
	if err != nil {
		return nil, nil, err
	}
	asConfig := mcpauth.Config{
		Issuer:            base,
		Scopes:            scopes,
		ScopeDescriptions: map[string]string{"tools:read": "Call the whoami tool", "tools:execute": "Call the add tool"},
		Resources:         []string{resource},
		Users:             []mcpauth.PasswordUser{{Username: "demo", PasswordHash: hash}},
		ConsentUI:         mcpauth.ConsentUI{AppName: "whoami example"},
		Logger:            cfg.Logger,
	}
	if cfg.Authenticator != nil {
		asConfig.Users, asConfig.Authenticator = nil, cfg.Authenticator
	}
	as, err := mcpauth.NewServer(asConfig)
	if err != nil {
		return nil, nil, err
	}

	server := mcp.NewServer(&mcp.Implementation{Name: "whoami", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "Report who is calling and what they may do"}, whoami)
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Add two numbers (needs the tools:execute scope)"}, add)

	mux := http.NewServeMux()
	// The authorization server serves its endpoints below the issuer (here
	// the origin): /.well-known/oauth-authorization-server, /authorize, ...
	mux.Handle("/", as)
	// RFC 9728 metadata at /.well-known/oauth-protected-resource/mcp, where
	// the 401 challenges point and MCP clients look.
	prmPath, err := mcpauth.ProtectedResourceMetadataPath(resource)
	if err != nil {
		as.Close()
		return nil, nil, err
	}
	mux.Handle(prmPath, mcpauth.ProtectedResourceMetadataHandler(mcpauth.ProtectedResource{
		Resource:             resource,
		AuthorizationServers: []string{as.Issuer()},
		ScopesSupported:      scopes,
		ResourceName:         "whoami example",
	}))
	// The MCP endpoint. as verifies tokens in process; sdkauth also hands the
	// grant to the SDK, which binds each session to its user, and checks
	// each tools/call against toolScopes.
	requireAuth, err := sdkauth.NewRequireMCPAuth(&mcpauth.RequireMCPAuthOptions{
		VerifierOptions: mcpauth.VerifierOptions{Local: as, Audience: resource, Logger: cfg.Logger},
		RequiredScopes:  endpointScopes,
	}, sdkauth.ToolScopes(toolScopes))
	if err != nil {
		as.Close()
		return nil, nil, err
	}
	mux.Handle("/mcp", requireAuth(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	return mux, func() { as.Close() }, nil
}

// whoamiOutput is the whoami tool's structured result.
type whoamiOutput struct {
	Subject   string    `json:"sub"`
	ClientID  string    `json:"client_id,omitempty"`
	Scopes    []string  `json:"scopes"`
	GrantID   string    `json:"grant_id,omitempty"`
	AgentDID  string    `json:"agent_did,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

func whoami(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoamiOutput, error) {
	// The grant of the token on this very request (not the session's first).
	g, ok := sdkauth.GrantFromRequest(req)
	if !ok {
		return nil, whoamiOutput{}, errors.New("no verified grant on the request")
	}
	out := whoamiOutput{
		Subject:   g.Subject,
		ClientID:  g.ClientID,
		Scopes:    g.Scopes,
		GrantID:   g.GrantID,
		AgentDID:  g.AgentDID,
		ExpiresAt: g.ExpiresAt,
	}
	text := fmt.Sprintf("You are %s, calling through client %s with scopes %s.", g.Subject, g.ClientID, strings.Join(g.Scopes, " "))
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, out, nil
}

type addInput struct {
	A float64 `json:"a" jsonschema:"the first addend"`
	B float64 `json:"b" jsonschema:"the second addend"`
}

type addOutput struct {
	Sum float64 `json:"sum"`
}

// add is the privileged tool: the middleware lets a call through only
// with tools:execute (see toolScopes in newHandler).
func add(ctx context.Context, req *mcp.CallToolRequest, in addInput) (*mcp.CallToolResult, addOutput, error) {
	out := addOutput{Sum: in.A + in.B}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(out.Sum)}}}, out, nil
}
