// Command mcp-auth-server runs an OAuth 2.1 authorization server for MCP
// together with a demo MCP server that it protects, in one process:
//
//	go run ./cmd/mcp-auth-server
//
// starts both on http://127.0.0.1:8080 with state in ./mcpauth.db (SQLite)
// and prints the URLs and how to sign in. Point an MCP client (MCP
// Inspector, Claude, VS Code) at http://127.0.0.1:8080/mcp.
//
// With -upstream URL, /mcp is instead a gateway to an existing MCP server
// (any language, streamable HTTP): the token is verified here, never
// forwarded, and the caller's grant goes upstream in X-Mcp-Auth-* headers.
// With -remote-issuer as well, no authorization server runs here: tokens of
// that issuer are accepted (see gateway.go and the README's "Protect an
// existing MCP server").
//
// The same binary manages a running server through its admin API:
//
//	MCPAUTH_OPERATOR_SECRET=… mcp-auth-server clients list|create|delete … -server URL
//	MCPAUTH_OPERATOR_SECRET=… mcp-auth-server grants list|revoke … -server URL
//
// (see cli.go and the README's "Operating it").
//
// Every flag can also be set in the environment as MCPAUTH_<FLAG> (for
// example MCPAUTH_STORE=postgres://… or MCPAUTH_GRANTEX_API_KEY); a flag
// on the command line wins. Run with -h for the list.
//
// Exit status: 0 after a clean shutdown (SIGINT, SIGTERM), 2 for bad flags,
// 1 when the server cannot start or fails (store unreachable, port taken).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode reports err on one line and maps it to the exit status.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	// One line, whatever the cause wrapped: scripts and humans read the first.
	msg := strings.Join(strings.Fields(err.Error()), " ")
	fmt.Fprintln(stderr, "mcp-auth-server: "+msg)
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}
