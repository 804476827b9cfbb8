package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/sdkauth"
	"github.com/prometheus/client_golang/prometheus"
)

// demoMCPHandler is the demo MCP server (streamable HTTP) behind
// RequireMCPAuth, verifying tokens in process with srv.
func demoMCPHandler(srv *mcpauth.Server, resource string, scopes []string, log *slog.Logger, metrics prometheus.Registerer) (http.Handler, func(), error) {
	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{Local: srv, Audience: resource, Logger: log, Metrics: metrics})
	if err != nil {
		return nil, nil, err
	}
	// add runs tools: with tools:execute configured, calling it needs that
	// scope, checked before the SDK sees the call, so a token without it
	// gets the 403 insufficient_scope challenge MCP clients step up on
	// (MCP 2025-11-25 §Scope Challenge Handling), not a tool error.
	var perTool []sdkauth.Option
	if slices.Contains(scopes, "tools:execute") {
		perTool = append(perTool, sdkauth.ToolScopes(map[string][]string{"add": {"tools:execute"}}))
	}
	// sdkauth.NewRequireMCPAuth also hands the grant to the go-sdk, which
	// gives it to tool handlers and binds each session to the token's subject.
	requireAuth, err := sdkauth.NewRequireMCPAuth(&mcpauth.RequireMCPAuthOptions{
		VerifierOptions: mcpauth.VerifierOptions{Audience: resource, Logger: log},
		Verifier:        v,
		ChallengeScopes: scopes,
	}, perTool...)
	if err != nil {
		v.Close()
		return nil, nil, err
	}

	s := mcp.NewServer(&mcp.Implementation{Name: "mcp-auth-server-demo", Title: "mcp-auth-server demo", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "whoami",
		Description: "Report who is calling: the subject, client and scopes of the access token.",
	}, whoami)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "add",
		Description: "Add two numbers (needs the tools:execute scope when it is configured; costs 1 of the grant's budget, when it has one).",
	}, func(ctx context.Context, req *mcp.CallToolRequest, in addInput) (*mcp.CallToolResult, addOutput, error) {
		return nil, addOutput{Sum: in.A + in.B}, nil
	})
	// add costs 1 of the caller's grant budget (-default-budget): the
	// call that cannot pay is a tool error and add does not run.
	s.AddReceivingMiddleware(sdkauth.ToolCosts(srv, demoToolCosts))
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{
		Logger:         log,
		SessionTimeout: 30 * time.Minute,
		// checkHost below does the SDK's DNS-rebinding check, but also
		// lets a reverse proxy on this host forward the public name.
		DisableLocalhostProtection: true,
	})
	u, err := url.Parse(resource)
	if err != nil {
		return nil, nil, err
	}
	return checkHost(u.Host, withCORS(requireAuth(h))), v.Close, nil
}

// demoToolCosts are the demo tools' costs against grant budgets.
var demoToolCosts = map[string]int64{"add": 1}

// checkHost refuses requests whose Host header is neither a loopback name
// nor the MCP URL's host: a web page on another name that resolves to this
// machine (DNS rebinding) cannot reach the server.
func checkHost(public string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !strings.EqualFold(r.Host, public) && !isLoopback(strings.Trim(host, "[]")) {
			http.Error(w, "forbidden: unexpected Host header", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withCORS lets browser-based clients (MCP Inspector in direct mode) call
// the MCP endpoint from other origins: the library's mcpauth.MCPCORS.
func withCORS(next http.Handler) http.Handler { return mcpauth.MCPCORS(next) }

func grantOf(req *mcp.CallToolRequest) *mcpauth.Grant {
	g, _ := sdkauth.GrantFromRequest(req)
	return g
}

type whoamiOutput struct {
	Subject   string    `json:"sub" jsonschema:"the signed-in user"`
	ClientID  string    `json:"client_id" jsonschema:"the MCP client the user authorized"`
	Scopes    []string  `json:"scopes" jsonschema:"the scopes granted"`
	GrantID   string    `json:"grant_id" jsonschema:"the consent this token belongs to"`
	Issuer    string    `json:"iss" jsonschema:"the authorization server"`
	Audience  []string  `json:"aud" jsonschema:"the resources the token is for"`
	AgentDID  string    `json:"agent_did,omitempty" jsonschema:"the agent identity"`
	ExpiresAt time.Time `json:"expires_at" jsonschema:"when the access token expires"`
}

func whoami(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoamiOutput, error) {
	g := grantOf(req)
	if g == nil {
		return nil, whoamiOutput{}, errors.New("no grant: this request was not authorized")
	}
	out := whoamiOutput{
		Subject: g.Subject, ClientID: g.ClientID, Scopes: g.Scopes, GrantID: g.GrantID,
		Issuer: g.Issuer, Audience: g.Audience, AgentDID: g.AgentDID, ExpiresAt: g.ExpiresAt.UTC(),
	}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	text := fmt.Sprintf("You are %s, using client %s, with scopes %v (grant %s).", g.Subject, g.ClientID, g.Scopes, g.GrantID)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, out, nil
}

type addInput struct {
	A float64 `json:"a" jsonschema:"the first addend"`
	B float64 `json:"b" jsonschema:"the second addend"`
}

type addOutput struct {
	Sum float64 `json:"sum" jsonschema:"a + b"`
}
