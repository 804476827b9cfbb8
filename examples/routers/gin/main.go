// Command gin serves mcpauth and an MCP endpoint on a gin engine: the
// authorization server takes every path the engine does not route itself
// (NoRoute), /mcp sits behind mcpauth.MCPCORS and RequireMCPAuth.
//
// gin's NoRoute pre-sets 404 on the response before calling the handler;
// mcpauth writes every status explicitly, so its answers keep theirs.
//
//	go run . -addr localhost:8080
//
// Sign in as "demo" with the password printed at start.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mcpauth/mcpauth"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "listen address")
	flag.Parse()
	base := "http://" + *addr
	password := rand.Text()[:12]
	hash, err := mcpauth.HashPassword(password)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("MCP endpoint %s/mcp; sign in as demo / %s", base, password)
	h, closeFn, err := newHandler(mcpauth.Config{
		Issuer: base,
		Users:  []mcpauth.PasswordUser{{Username: "demo", PasswordHash: hash}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer closeFn()
	hs := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = hs.Shutdown(context.Background())
	}()
	if err := hs.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// newHandler is the router: cfg.Issuer is the public origin, the MCP
// endpoint is cfg.Issuer + "/mcp". closeFn stops the server's background
// work.
func newHandler(cfg mcpauth.Config) (h http.Handler, closeFn func() error, err error) {
	resource := cfg.Issuer + "/mcp"
	cfg.Scopes = []string{"tools:read"}
	cfg.Resources = []string{resource}
	srv, err := mcpauth.NewServer(cfg)
	if err != nil {
		return nil, nil, err
	}
	requireAuth, err := mcpauth.NewRequireMCPAuth(&mcpauth.RequireMCPAuthOptions{
		VerifierOptions: mcpauth.VerifierOptions{Local: srv, Audience: resource},
		RequiredScopes:  []string{"tools:read"},
	})
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	prmPath, err := mcpauth.ProtectedResourceMetadataPath(resource)
	if err != nil {
		srv.Close()
		return nil, nil, err
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = false // unrouted methods go to NoRoute, where mcpauth answers 405 itself
	// The MCP endpoint: CORS outside the token check, so browser clients'
	// preflights get 204 rather than 401.
	r.Any("/mcp", gin.WrapH(mcpauth.MCPCORS(requireAuth(http.HandlerFunc(whoami)))))
	prm := gin.WrapH(mcpauth.ProtectedResourceMetadataHandler(mcpauth.ProtectedResource{
		Resource: resource, AuthorizationServers: []string{cfg.Issuer}, ScopesSupported: []string{"tools:read"},
	}))
	r.GET(prmPath, prm)
	r.HEAD(prmPath, prm)
	r.OPTIONS(prmPath, prm)
	// Everything else is the authorization server's: /authorize, /token,
	// /register, /login, /consent, /logout, /assets/, the well-known
	// documents… It answers unknown paths with 404 itself.
	r.NoRoute(gin.WrapH(srv))
	return r, srv.Close, nil
}

// whoami stands in for the MCP server: it reports the caller's grant.
func whoami(w http.ResponseWriter, r *http.Request) {
	g, _ := mcpauth.GrantFromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]any{"sub": g.Subject, "scopes": g.Scopes})
}
