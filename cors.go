package mcpauth

// This file implements the CORS handling of an MCP endpoint, the same the
// standalone server puts in front of /mcp.

import "net/http"

// MCPCORS lets MCP clients running in a browser on another origin (MCP
// Inspector in direct mode, web-based agents) call the MCP endpoint next
// (Fetch Standard §3.2, CORS). It answers preflights (OPTIONS with
// Access-Control-Request-Method) itself with 204, before any
// authentication: a preflight carries no Authorization header, and a 401
// to it fails the browser's request before the real one is sent. Other
// requests from an Origin get Access-Control-Allow-Origin: * and may read
// the MCP session headers and the WWW-Authenticate challenge (RFC 6750 §3,
// RFC 9728 §5.1), which clients need to discover the authorization server.
//
// Any origin is allowed because bearer tokens, never cookies, carry the
// caller's authority (no credentials mode). Put it outside
// [RequireMCPAuth]:
//
//	mux.Handle("/mcp", mcpauth.MCPCORS(requireAuth(mcpHandler)))
//
// It is not needed when only native clients (desktop apps, CLIs, servers)
// call the endpoint, nor for the authorization server's own endpoints,
// which answer CORS themselves.
func MCPCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Header.Get("Origin") != "" {
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Expose-Headers", "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID")
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
