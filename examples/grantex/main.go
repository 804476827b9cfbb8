// Command grantex runs an MCP server whose authorization is delegated to
// Grantex (managed mode): users sign in here, consent on Grantex's page, and
// the MCP client receives Grantex-signed access tokens with this server's
// own codes and refresh tokens.
//
// With GRANTEX_BASE_URL, GRANTEX_API_KEY and GRANTEX_AGENT_ID set it talks
// to that Grantex deployment (GRANTEX_ISSUER sets the tokens' iss when it
// differs from the base URL). Without them it starts an in-process fake
// Grantex (package grantextest) so the whole flow runs on one machine:
//
//	go run ./examples/grantex
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
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/grantex"
	"github.com/mcpauth/mcpauth/grantex/grantextest"
	"github.com/mcpauth/mcpauth/sdkauth"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, log); err != nil {
		log.Error("grantex example", "err", err)
		os.Exit(1)
	}
}

func run(addr string, log *slog.Logger) error {
	gx, agentID, issuer, stop, err := grantexClient(log)
	if err != nil {
		return err
	}
	defer stop()
	password := rand.Text()[:12]
	handler, as, err := newHandler("http://"+addr, gx, agentID, issuer, password, log)
	if err != nil {
		return err
	}
	defer as.Close()
	srv := &http.Server{Addr: addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	go func() {
		<-ctx.Done()
		shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Printf("MCP server:   http://%s/mcp\nGrantex:      %s\nsign in as:   demo / %s\n", addr, gx.BaseURL(), password)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// grantexClient connects to a real Grantex when configured, else to a fake.
func grantexClient(log *slog.Logger) (c *grantex.Client, agentID, issuer string, stop func(), err error) {
	base, key, agent := os.Getenv("GRANTEX_BASE_URL"), os.Getenv("GRANTEX_API_KEY"), os.Getenv("GRANTEX_AGENT_ID")
	if base != "" && key != "" && agent != "" {
		c, err = grantex.New(base, key, agent, grantex.WithLogger(log))
		return c, agent, os.Getenv("GRANTEX_ISSUER"), func() {}, err
	}
	log.Info("GRANTEX_BASE_URL, GRANTEX_API_KEY and GRANTEX_AGENT_ID not set: using an in-process fake Grantex")
	fake := grantextest.NewServer(grantextest.Options{})
	c, err = fake.NewClient(grantextest.DefaultAPIKey, grantextest.DefaultAgentID)
	return c, grantextest.DefaultAgentID, fake.Issuer(), fake.Close, err
}

// newHandler wires the authorization server in managed mode, the protected
// resource metadata and the MCP endpoint on one ServeMux.
func newHandler(base string, gx mcpauth.GrantexClient, agentID, grantexIssuer, password string, log *slog.Logger) (http.Handler, *mcpauth.Server, error) {
	resource := base + "/mcp"
	scopes := []string{"tools:read"}
	hash, err := mcpauth.HashPassword(password)
	if err != nil {
		return nil, nil, err
	}
	as, err := mcpauth.NewServer(mcpauth.Config{
		Issuer:    base,
		Scopes:    scopes,
		Resources: []string{resource},
		Grantex:   mcpauth.GrantexConfig{Client: gx, AgentID: agentID, Issuer: grantexIssuer},
		Users:     []mcpauth.PasswordUser{{Username: "demo", PasswordHash: hash}},
		Logger:    log,
	})
	if err != nil {
		return nil, nil, err
	}
	prmPath, err := mcpauth.ProtectedResourceMetadataPath(resource)
	if err != nil {
		as.Close()
		return nil, nil, err
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "grantex-example", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "Report the caller's Grantex grant"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, map[string]any, error) {
			g, ok := sdkauth.GrantFromRequest(req)
			if !ok {
				return nil, nil, errors.New("no grant")
			}
			return nil, map[string]any{"sub": g.Subject, "agent": g.AgentDID, "grant": g.GrantID, "scopes": g.Scopes}, nil
		})
	mux := http.NewServeMux()
	mux.Handle("/", as)
	mux.Handle(prmPath, mcpauth.ProtectedResourceMetadataHandler(mcpauth.ProtectedResource{
		Resource: resource, AuthorizationServers: []string{as.Issuer()}, ScopesSupported: scopes, ResourceName: "Grantex example",
	}))
	// Local: as verifies Grantex tokens against Grantex's JWKS and asks
	// Grantex about revocations, with no extra hop through this server.
	mux.Handle("/mcp", sdkauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Local: as, Audience: resource}, RequiredScopes: scopes})(
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	return mux, as, nil
}
