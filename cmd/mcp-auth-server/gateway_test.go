package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	authstore "github.com/mcpauth/mcpauth/store"
)

func TestParseGatewayFlags(t *testing.T) {
	o, err := parseFlags(nil, envMap(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if g := o.gw; g.upstream != nil || g.remoteIssuer != "" || g.dialTimeout != 5*time.Second || g.headerTimeout != 2*time.Minute || g.introspectionTTL != 10*time.Second || g.maxSessions != 100000 || len(g.resources) != 0 {
		t.Errorf("gateway defaults: %+v", g)
	}

	// Everything from the environment.
	env := envMap(map[string]string{
		"MCPAUTH_UPSTREAM":                 "http://127.0.0.1:3000/mcp",
		"MCPAUTH_REMOTE_ISSUER":            "https://auth.example.com",
		"MCPAUTH_RESOURCE":                 "https://mcp.example.com/mcp",
		"MCPAUTH_REMOTE_CLIENT_ID":         "gw",
		"MCPAUTH_REMOTE_CLIENT_SECRET":     "gw-secret",
		"MCPAUTH_UPSTREAM_DIAL_TIMEOUT":    "2s",
		"MCPAUTH_UPSTREAM_HEADER_TIMEOUT":  "30s",
		"MCPAUTH_TOOL_SCOPE":               "deploy=tools:execute admin,read=tools:read",
		"MCPAUTH_REMOTE_INTROSPECTION_TTL": "3s",
		"MCPAUTH_UPSTREAM_MAX_SESSIONS":    "500",
	})
	o, err = parseFlags(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	g := o.gw
	if g.upstream.String() != "http://127.0.0.1:3000/mcp" || g.remoteIssuer != "https://auth.example.com" || g.resource != "https://mcp.example.com/mcp" ||
		g.remoteClientID != "gw" || g.remoteClientSecret != "gw-secret" || g.dialTimeout != 2*time.Second || g.headerTimeout != 30*time.Second || g.introspectionTTL != 3*time.Second || g.maxSessions != 500 {
		t.Errorf("from the environment: %+v", g)
	}
	if !slices.Equal(g.toolScopes["deploy"], []string{"tools:execute", "admin"}) || !slices.Equal(g.toolScopes["read"], []string{"tools:read"}) {
		t.Errorf("tool scopes %v", g.toolScopes)
	}

	// A gateway on a public address needs only its public -resource.
	o, err = parseFlags([]string{"-addr", "0.0.0.0:8080"}, env, io.Discard)
	if err != nil || o.gw.resource != "https://mcp.example.com/mcp" {
		t.Errorf("gateway on 0.0.0.0 with -resource: %v", err)
	}
	if o, err = parseFlags([]string{"-addr", "10.1.2.3:8080"}, env, io.Discard); err != nil || o.addr != "10.1.2.3:8080" {
		t.Errorf("gateway on 10.1.2.3 with -resource: %v", err)
	}

	// Flags win; without -remote-issuer, -resource is a list of audiences.
	o, err = parseFlags([]string{"-remote-issuer", "", "-remote-client-id", "", "-remote-client-secret", "",
		"-resource", "https://a.example.com/mcp", "-resource", "https://b.example.com/mcp"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.gw.remoteIssuer != "" || !slices.Equal(o.gw.resources, []string{"https://a.example.com/mcp", "https://b.example.com/mcp"}) || o.gw.resource != "" {
		t.Errorf("flags over env: %+v", o.gw)
	}

	up := []string{"-upstream", "http://127.0.0.1:3000/mcp"}
	remote := append([]string{"-remote-issuer", "https://auth.example.com"}, up...)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-upstream", "ftp://x/mcp"}, nil, "-upstream"},
		{[]string{"-upstream", "http://u:p@x/mcp"}, nil, "-upstream"},
		{[]string{"-upstream", "/mcp"}, nil, "-upstream"},
		{append([]string{"-upstream-dial-timeout", "0s"}, up...), nil, "-upstream-dial-timeout"},
		{append([]string{"-upstream-header-timeout", "-1s"}, up...), nil, "-upstream-header-timeout"},
		{append([]string{"-upstream-max-sessions", "0"}, up...), nil, "-upstream-max-sessions"},
		{nil, map[string]string{"MCPAUTH_UPSTREAM_HEADER_TIMEOUT": "soon"}, "MCPAUTH_UPSTREAM_HEADER_TIMEOUT"},
		{[]string{"-tool-scope", "deploy=tools:execute"}, nil, "-tool-scope needs -upstream"},
		{append([]string{"-tool-scope", "deploy"}, up...), nil, "-tool-scope"},
		{append([]string{"-tool-scope", `deploy=a"b`}, up...), nil, "-tool-scope"},
		{[]string{"-resource", "http://example.com/mcp"}, nil, "-resource"},
		{[]string{"-resource", "https://example.com/mcp#x"}, nil, "-resource"},
		{[]string{"-remote-issuer", "https://auth.example.com"}, nil, "needs -upstream"},
		{[]string{"-remote-client-id", "gw"}, nil, "need -remote-issuer"},
		{append([]string{"-remote-issuer", "http://auth.example.com"}, up...), nil, "-remote-issuer"},
		{append([]string{"-remote-client-id", "gw"}, remote...), nil, "-remote-client-secret"},
		{append([]string{"-remote-introspection-ttl", "0s"}, remote...), nil, "-remote-introspection-ttl"},
		{append([]string{"-resource", "https://a.example.com/mcp", "-resource", "https://b.example.com/mcp"}, remote...), nil, "one canonical URL"},
		{append([]string{"-issuer", "https://gw.example.com"}, remote...), nil, "-issuer"},
		{append([]string{"-addr", "10.1.2.3:8080"}, remote...), nil, "-resource is required"},
		{append([]string{"-user", "a:b"}, remote...), nil, "-user configures the authorization server"},
		{append([]string{"-static-client", "c:http://127.0.0.1/cb"}, remote...), nil, "-static-client"},
		{append([]string{"-audit-secret", "0123456789abcdef"}, remote...), nil, "-audit-secret"},
	} {
		_, err := parseFlags(tc.args, envMap(tc.env), io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v %v: err %v, want a usage error", tc.args, tc.env, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %q does not mention %q", tc.args, err, tc.want)
		}
	}
}

// received is what the upstream MCP server saw of one request.
type received struct {
	method, path, query string
	header              http.Header
	body                string
}

// recorder is an upstream MCP server that records every request and
// answers like a streamable-HTTP server: a session id and a JSON result.
type recorder struct {
	mu   sync.Mutex
	reqs []received
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, received{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(b)})
	rec.mu.Unlock()
	w.Header().Set("Mcp-Session-Id", "upstream-session-1")
	w.Header().Set("Set-Cookie", "upstream=1; Path=/")
	w.Header().Set("Access-Control-Allow-Origin", "https://evil.example")
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
}

func (rec *recorder) all() []received {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.reqs)
}

// mcpPost sends a JSON-RPC body to an MCP endpoint with a token (if any)
// and extra headers, as raw http.Header entries (any spelling).
func mcpPost(t *testing.T, u, token, body string, extra map[string][]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

// TestGatewayForwardsGrantNotToken attacks the gateway (beside its own
// authorization server) with a spoofed identity in every spelling, a
// cookie and the bearer token: the upstream receives none of them, only
// the verified grant in X-Mcp-Auth-*; MCP headers pass both ways.
func TestGatewayForwardsGrantNotToken(t *testing.T) {
	rec := &recorder{}
	up := httptest.NewServer(rec)
	defer up.Close()
	s := startRun(t, "-store", "memory:", "-user", "alice:alice-password", "-upstream", up.URL+"/upstream/mcp?tenant=a")
	tok := authorizeAs(t, s.issuer, "alice", "alice-password", "tools:read tools:execute", s.issuer+"/mcp").token["access_token"].(string)

	resp := mcpPost(t, s.issuer+"/mcp?x=1", tok, initBody, map[string][]string{
		"X-Mcp-Auth-Subject":   {"mallory"},
		"x-mcp-auth-scopes":    {"admin"},
		"X_MCP_AUTH_SUBJECT":   {"mallory"},
		"X-Mcp-Auth-Client_Id": {"evil-client"},
		"X-MCP-AUTH-GRANT-ID":  {"g1", "g2"},
		"X-Mcp-Auth-Role":      {"admin"},
		"Cookie":               {"mcpauth_session=stolen"},
		"Mcp-Session-Id":       {"client-session-7"},
		"Mcp-Protocol-Version": {"2025-06-18"},
		"Last-Event-ID":        {"ev-3"},
		"Origin":               {"https://inspector.example"},
		"X-Forwarded-For":      {"203.0.113.7"},
	})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /mcp: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Mcp-Session-Id"); got != "upstream-session-1" {
		t.Errorf("response Mcp-Session-Id %q did not come back", got)
	}
	if resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("upstream Set-Cookie reached the client: %q", resp.Header.Values("Set-Cookie"))
	}
	if acao := resp.Header.Values("Access-Control-Allow-Origin"); !slices.Equal(acao, []string{"*"}) {
		t.Errorf("Access-Control-Allow-Origin %q, want the gateway's one *", acao)
	}

	reqs := rec.all()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/upstream/mcp" || r.query != "tenant=a&x=1" || r.body != initBody {
		t.Errorf("upstream got %s %s?%s %q", r.method, r.path, r.query, r.body)
	}
	for k, v := range r.header {
		n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		switch {
		case n == "authorization", n == "cookie":
			t.Errorf("upstream received %s: %q", k, v)
		case strings.HasPrefix(n, "x-mcp-auth-") && !slices.Contains([]string{headerSubject, headerClientID, headerScopes, headerGrantID}, k):
			t.Errorf("spoofed header %s: %q reached the upstream", k, v)
		case strings.HasPrefix(n, "x-mcp-auth-") && len(v) != 1:
			t.Errorf("%s has %d values %q", k, len(v), v)
		}
	}
	h := r.header
	if h.Get(headerSubject) != "alice" || h.Get(headerScopes) != "tools:read tools:execute" || h.Get(headerClientID) == "" ||
		h.Get(headerClientID) == "evil-client" || h.Get(headerGrantID) == "" || h.Get(headerGrantID) == "g1" {
		t.Errorf("identity headers: subject %q scopes %q client %q grant %q", h.Get(headerSubject), h.Get(headerScopes), h.Get(headerClientID), h.Get(headerGrantID))
	}
	if h.Get("Mcp-Session-Id") != "client-session-7" || h.Get("Mcp-Protocol-Version") != "2025-06-18" || h.Get("Last-Event-ID") != "ev-3" {
		t.Errorf("MCP headers upstream: %v", h)
	}
	// The client's X-Forwarded-For is not trusted without -trust-forwarded-for.
	if !strings.HasPrefix(h.Get("X-Forwarded-Host"), "127.0.0.1:") || h.Values("X-Forwarded-For")[0] != "127.0.0.1" || len(h.Values("X-Forwarded-For")) != 1 {
		t.Errorf("X-Forwarded-*: host %q for %q", h.Get("X-Forwarded-Host"), h.Values("X-Forwarded-For"))
	}

	// Behind a proxy (-trust-forwarded-for) the chain is kept and extended.
	rec2 := &recorder{}
	up2 := httptest.NewServer(rec2)
	defer up2.Close()
	s2 := startRun(t, "-store", "memory:", "-user", "alice:alice-password", "-upstream", up2.URL+"/mcp", "-trust-forwarded-for")
	tok2 := authorizeAs(t, s2.issuer, "alice", "alice-password", "tools:read", s2.issuer+"/mcp").token["access_token"].(string)
	mcpPost(t, s2.issuer+"/mcp", tok2, initBody, map[string][]string{"X-Forwarded-For": {"203.0.113.7"}})
	if r := rec2.all(); len(r) != 1 || r[0].header.Get("X-Forwarded-For") != "203.0.113.7, 127.0.0.1" {
		t.Errorf("with -trust-forwarded-for: %+v", r)
	}
}

// TestGatewayChallenges: without a token, with a bad one, or without a
// tool's scope, the gateway answers as RequireMCPAuth does (401 naming the
// resource metadata, 403 insufficient_scope for step-up) and the upstream
// sees nothing; CORS preflights are answered without a token.
func TestGatewayChallenges(t *testing.T) {
	rec := &recorder{}
	up := httptest.NewServer(rec)
	defer up.Close()
	s := startRun(t, "-store", "memory:", "-user", "alice:alice-password", "-upstream", up.URL+"/mcp", "-tool-scope", "deploy=tools:execute")
	iss := s.issuer
	prm := iss + "/.well-known/oauth-protected-resource/mcp"

	resp := mcpPost(t, iss+"/mcp", "", initBody, nil)
	if wa := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(wa, `resource_metadata="`+prm+`"`) || !strings.Contains(wa, `scope="tools:read tools:execute resources:read"`) {
		t.Errorf("no token: %d %q", resp.StatusCode, wa)
	}
	resp = mcpPost(t, iss+"/mcp", "not-a-token", initBody, nil)
	if wa := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(wa, `error="invalid_token"`) {
		t.Errorf("bad token: %d %q", resp.StatusCode, wa)
	}
	doc := getJSON(t, prm, http.StatusOK)
	if doc["resource"] != iss+"/mcp" || !slices.Equal(toStrings(doc["authorization_servers"]), []string{iss}) {
		t.Errorf("resource metadata %v", doc)
	}

	tok := authorizeAs(t, iss, "alice", "alice-password", "tools:read", iss+"/mcp").token["access_token"].(string)
	deploy := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"deploy","arguments":{}}}`
	resp = mcpPost(t, iss+"/mcp", tok, deploy, nil)
	if wa := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusForbidden || !strings.Contains(wa, `error="insufficient_scope"`) ||
		!strings.Contains(wa, "tools:execute") || !strings.Contains(wa, `resource_metadata="`+prm+`"`) {
		t.Errorf("deploy without tools:execute: %d %q", resp.StatusCode, wa)
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("the upstream saw %d refused requests", n)
	}
	// Another tool needs only the token.
	resp = mcpPost(t, iss+"/mcp", tok, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{}}}`, nil)
	if resp.StatusCode != http.StatusOK || len(rec.all()) != 1 {
		t.Errorf("echo: %d, upstream saw %d", resp.StatusCode, len(rec.all()))
	}
	// With the scope, deploy goes through.
	tok = authorizeAs(t, iss, "alice", "alice-password", "tools:read tools:execute", iss+"/mcp").token["access_token"].(string)
	if resp = mcpPost(t, iss+"/mcp", tok, deploy, nil); resp.StatusCode != http.StatusOK || len(rec.all()) != 2 {
		t.Errorf("deploy with tools:execute: %d, upstream saw %d", resp.StatusCode, len(rec.all()))
	}

	req, _ := http.NewRequest(http.MethodOptions, iss+"/mcp", nil)
	req.Header.Set("Origin", "https://inspector.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
}

func toStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// TestGatewayStreamsSSE: an upstream SSE response reaches the client event
// by event: the client reads the first event while the upstream still
// holds back the second, which it sends only once the client has the first.
func TestGatewayStreamsSSE(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Mcp-Session-Id", "s1")
		io.WriteString(w, "id: 1\ndata: {\"n\":1}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "id: 2\ndata: {\"n\":2}\n\n")
	}))
	defer up.Close()
	defer close(release)
	s := startRun(t, "-store", "memory:", "-user", "alice:alice-password", "-upstream", up.URL+"/mcp")
	tok := authorizeAs(t, s.issuer, "alice", "alice-password", "tools:read", s.issuer+"/mcp").token["access_token"].(string)

	for _, method := range []string{http.MethodPost, http.MethodGet} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		req, _ := http.NewRequestWithContext(ctx, method, s.issuer+"/mcp", nil)
		if method == http.MethodPost {
			req.Body = io.NopCloser(strings.NewReader(initBody))
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%s: %d %v", method, resp.StatusCode, resp.Header)
		}
		sc := bufio.NewScanner(resp.Body)
		var first []string
		for sc.Scan() && sc.Text() != "" {
			first = append(first, sc.Text())
		}
		// Got here with release still open: the gateway did not wait for
		// the rest of the stream (a buffering proxy would hang until ctx ends).
		if !slices.Equal(first, []string{"id: 1", `data: {"n":1}`}) || ctx.Err() != nil {
			t.Fatalf("%s: first event %q (ctx %v)", method, first, ctx.Err())
		}
		resp.Body.Close()
		cancel()
	}
}

// TestGatewayUpstreamDown: an upstream that refuses connections or cannot
// be reached within -upstream-dial-timeout gives 502, one that never
// answers gives 504 after -upstream-header-timeout; all with a JSON body,
// never a hang.
func TestGatewayUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/mcp"
	ln.Close()

	hang := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer silent.Close()
	defer close(hang)

	for _, tc := range []struct {
		name, upstream string
		want           int
	}{
		{"refused", closedURL, http.StatusBadGateway},
		// TEST-NET-1 (RFC 5737) is never routed: the dial times out (or the
		// network says unreachable at once).
		{"unroutable", "http://192.0.2.1:81/mcp", http.StatusBadGateway},
		{"silent", silent.URL + "/mcp", http.StatusGatewayTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startRun(t, "-store", "memory:", "-user", "alice:alice-password", "-upstream", tc.upstream, "-upstream-header-timeout", "300ms", "-upstream-dial-timeout", "300ms")
			tok := authorizeAs(t, s.issuer, "alice", "alice-password", "tools:read", s.issuer+"/mcp").token["access_token"].(string)
			resp := mcpPost(t, s.issuer+"/mcp", tok, initBody, nil)
			var body struct{ Error, ErrorDescription string }
			b, _ := io.ReadAll(resp.Body)
			json.Unmarshal(b, &body)
			if resp.StatusCode != tc.want || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(b), `"error":"upstream_unavailable"`) {
				t.Errorf("%d %q %s, want %d with a JSON error", resp.StatusCode, resp.Header.Get("Content-Type"), b, tc.want)
			}
		})
	}
}

// TestGatewayRemoteIssuer: a gateway with -remote-issuer runs no
// authorization server; it names the remote one in its resource metadata,
// accepts that server's tokens for its own resource, and refuses tokens
// for another audience and tokens of another authorization server.
func TestGatewayRemoteIssuer(t *testing.T) {
	rec := &recorder{}
	up := httptest.NewServer(rec)
	defer up.Close()
	gwAddr := freeAddr(t)
	gwURL := "http://" + gwAddr + "/mcp"
	as := startRun(t, "-store", "memory:", "-user", "alice:alice-password", "-resource", gwURL)
	other := startRun(t, "-store", "memory:", "-user", "alice:alice-password", "-resource", gwURL)

	banner := startGateway(t, "-addr", gwAddr, "-remote-issuer", as.issuer, "-upstream", up.URL+"/mcp")
	if !strings.Contains(banner, "MCP server:         "+gwURL) {
		t.Errorf("banner %q does not name %s", banner, gwURL)
	}

	prm := "http://" + gwAddr + "/.well-known/oauth-protected-resource/mcp"
	doc := getJSON(t, prm, http.StatusOK)
	if doc["resource"] != gwURL || !slices.Equal(toStrings(doc["authorization_servers"]), []string{as.issuer}) {
		t.Errorf("gateway resource metadata %v", doc)
	}
	getJSON(t, "http://"+gwAddr+"/healthz", http.StatusOK)
	// No authorization server here.
	if resp, err := http.Get("http://" + gwAddr + "/.well-known/oauth-authorization-server"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("authorization server metadata at the gateway: %v %v", resp.StatusCode, err)
	}

	resp := mcpPost(t, gwURL, "", initBody, nil)
	if wa := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(wa, `resource_metadata="`+prm+`"`) {
		t.Errorf("no token: %d %q", resp.StatusCode, wa)
	}

	good := authorizeAs(t, as.issuer, "alice", "alice-password", "tools:read", gwURL).token["access_token"].(string)
	resp = mcpPost(t, gwURL, good, initBody, nil)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("remote token for the gateway: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b)
	}
	if r := rec.all(); len(r) != 1 || r[0].header.Get(headerSubject) != "alice" || r[0].header.Get("Authorization") != "" {
		t.Fatalf("upstream saw %+v", r)
	}

	for name, tok := range map[string]string{
		"another audience":             authorizeAs(t, as.issuer, "alice", "alice-password", "tools:read", as.issuer+"/mcp").token["access_token"].(string),
		"another authorization server": authorizeAs(t, other.issuer, "alice", "alice-password", "tools:read", gwURL).token["access_token"].(string),
	} {
		resp := mcpPost(t, gwURL, tok, initBody, nil)
		if wa := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(wa, `error="invalid_token"`) {
			t.Errorf("%s: %d %q", name, resp.StatusCode, wa)
		}
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("upstream saw %d requests, want 1", n)
	}
}

// freeAddr is a loopback host:port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startGateway runs the program with args (a -remote-issuer gateway) until
// the test ends, and returns its banner.
func startGateway(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runWith(ctx, append([]string{"-log-level", "error"}, args...), envMap(nil), out, io.Discard, nil)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "Connect an MCP client"); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("gateway exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no gateway banner: %q", out.String())
		}
	}
	return out.String()
}

// TestGatewayRemoteIntrospection: with -remote-client-id, a token revoked
// at the remote authorization server is refused by the gateway (RFC 7662
// introspection, answers reused for -remote-introspection-ttl); with the
// authorization server down, verified tokens still pass (fail open).
func TestGatewayRemoteIntrospection(t *testing.T) {
	rec := &recorder{}
	up := httptest.NewServer(rec)
	defer up.Close()
	gwAddr, asAddr := freeAddr(t), freeAddr(t)
	gwURL := "http://" + gwAddr + "/mcp"
	db := "sqlite:" + filepath.Join(t.TempDir(), "as.db")
	asArgs := []string{"-addr", asAddr, "-store", db, "-user", "alice:alice-password", "-demo-mcp=false", "-resource", gwURL}
	as := startRun(t, asArgs...)
	gwID, gwSecret := registerConfidential(t, as.issuer, "http://127.0.0.1:9/cb")
	if err := as.stop(); err != nil {
		t.Fatal(err)
	}
	as = startRun(t, append(asArgs, "-introspector", gwID)...)

	banner := startGateway(t, "-addr", gwAddr, "-remote-issuer", as.issuer, "-upstream", up.URL+"/mcp",
		"-remote-client-id", gwID, "-remote-client-secret", gwSecret, "-remote-introspection-ttl", "1ms")
	if !strings.Contains(banner, "Revocation check:   RFC 7662 introspection as "+gwID) {
		t.Errorf("banner %q", banner)
	}

	tok := authorizeAs(t, as.issuer, "alice", "alice-password", "tools:read", gwURL).token["access_token"].(string)
	if resp := mcpPost(t, gwURL, tok, initBody, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("before revocation: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, err := http.PostForm(as.issuer+"/revoke", url.Values{"token": {tok}, "client_id": {claim(t, tok, "client_id")}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	resp = mcpPost(t, gwURL, tok, initBody, nil)
	if wa := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(wa, `error="invalid_token"`) ||
		!strings.Contains(wa, `resource_metadata="http://`+gwAddr+`/.well-known/oauth-protected-resource/mcp"`) {
		t.Errorf("revoked token: %d %q", resp.StatusCode, wa)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("upstream saw %d requests, want 1", n)
	}

	// The authorization server down: signature, expiry and audience decide.
	fresh := authorizeAs(t, as.issuer, "alice", "alice-password", "tools:read", gwURL).token["access_token"].(string)
	if err := as.stop(); err != nil {
		t.Fatal(err)
	}
	if resp := mcpPost(t, gwURL, fresh, initBody, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("authorization server down: %d %q, want the verified token accepted", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// claim reads one string claim of a JWT, unverified.
func claim(t *testing.T, jwt, name string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	v, _ := m[name].(string)
	return v
}

// TestGatewayBindsSessions: an MCP session belongs to the user whose
// initialize opened it; another user's valid token with that session id
// gets 404 (as for an unknown session) and the upstream never sees it.
func TestGatewayBindsSessions(t *testing.T) {
	rec := &recorder{} // answers every request with Mcp-Session-Id: upstream-session-1
	up := httptest.NewServer(rec)
	defer up.Close()
	s := startRun(t, "-store", "memory:", "-user", "alice:alice-password", "-user", "bob:bob-password", "-upstream", up.URL+"/mcp")
	alice := authorizeAs(t, s.issuer, "alice", "alice-password", "tools:read", s.issuer+"/mcp").token["access_token"].(string)
	bob := authorizeAs(t, s.issuer, "bob", "bob-password", "tools:read", s.issuer+"/mcp").token["access_token"].(string)
	sid := map[string][]string{"Mcp-Session-Id": {"upstream-session-1"}}
	send := func(method, token string, h map[string][]string) int {
		t.Helper()
		req, _ := http.NewRequest(method, s.issuer+"/mcp", nil)
		if method == http.MethodPost {
			req.Body = io.NopCloser(strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`))
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if resp := mcpPost(t, s.issuer+"/mcp", alice, initBody, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("alice initialize: %d", resp.StatusCode)
	}
	for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		if code := send(m, bob, sid); code != http.StatusNotFound {
			t.Errorf("bob %s on alice's session: %d, want 404", m, code)
		}
	}
	if n := len(rec.all()); n != 1 {
		t.Fatalf("upstream saw %d requests, want only alice's initialize", n)
	}
	if code := send(http.MethodPost, alice, sid); code != http.StatusOK {
		t.Errorf("alice on her session: %d", code)
	}
	// A session this gateway did not see open is passed through.
	if code := send(http.MethodPost, bob, map[string][]string{"Mcp-Session-Id": {"opened-elsewhere"}}); code != http.StatusOK {
		t.Errorf("bob on an unknown session: %d", code)
	}
	// Ended by its owner, the session is forgotten.
	if code := send(http.MethodDelete, alice, sid); code != http.StatusOK {
		t.Errorf("alice DELETE: %d", code)
	}
	if code := send(http.MethodPost, bob, sid); code != http.StatusOK {
		t.Errorf("bob after alice ended the session: %d, want it passed through", code)
	}
}

func TestSessionOwnersBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newSessionOwners(2)
	s.now = func() time.Time { return now }
	s.record("a", "alice")
	now = now.Add(time.Second)
	s.record("b", "bob")
	now = now.Add(time.Second)
	s.allow("a", "alice") // a is now the most recently used
	s.record("c", "carol")
	if len(s.m) != 2 || s.m["b"] != nil || s.m["a"] == nil || s.m["c"] == nil {
		t.Errorf("after a third session: %v, want b (least recently used) evicted", s.m)
	}
	if s.allow("a", "bob") || !s.allow("a", "alice") || !s.allow("b", "anyone") {
		t.Error("ownership not kept")
	}
	now = now.Add(sessionIdle + time.Minute)
	s.record("d", "dan")
	s.record("e", "eve")
	if s.m["a"] != nil || s.m["c"] != nil || s.m["d"] == nil || s.m["e"] == nil {
		t.Errorf("idle sessions not dropped first: %v", s.m)
	}
}

// TestGatewayNoHeaderInjection: a subject with a line break, from an
// authorization server that allows one, is not sent upstream at all: 502
// unusable_claims, and no header is injected. (Our own -user refuses such
// names; the gateway must not trust that every issuer does.)
func TestGatewayNoHeaderInjection(t *testing.T) {
	rec := &recorder{}
	up := httptest.NewServer(rec)
	defer up.Close()
	gwAddr := freeAddr(t)
	gwURL := "http://" + gwAddr + "/mcp"
	evil := "eve\r\nX-Mcp-Auth-Scopes: admin"
	asTS := httptest.NewUnstartedServer(nil)
	asURL := "http://" + asTS.Listener.Addr().String()
	as, err := mcpauth.NewServer(mcpauth.Config{
		Issuer: asURL, Scopes: []string{"tools:read"}, Resources: []string{gwURL},
		Authenticator: mcpauthtest.AutoApprove(evil),
		StaticClients: []authstore.Client{{ID: "app", ClientMetadata: authstore.ClientMetadata{RedirectURIs: []string{policyRedirect}, TokenEndpointAuthMethod: "none"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	asTS.Config.Handler = as
	asTS.Start()
	defer asTS.Close()
	startGateway(t, "-addr", gwAddr, "-remote-issuer", asURL, "-upstream", up.URL+"/mcp")

	verifier := oauth2.GenerateVerifier()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"client_id": {"app"}, "redirect_uri": {policyRedirect}, "response_type": {"code"}, "scope": {"tools:read"},
		"resource": {gwURL}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	resp, err := noRedirect.Get(asURL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.PostForm(asURL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {"app"},
		"redirect_uri": {policyRedirect}, "code_verifier": {verifier}, "resource": {gwURL}})
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if tr.AccessToken == "" || claim(t, tr.AccessToken, "sub") != evil {
		t.Fatalf("no token for %q: %d", evil, resp.StatusCode)
	}
	resp = mcpPost(t, gwURL, tr.AccessToken, initBody, nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), `"error":"unusable_claims"`) {
		t.Errorf("subject with CR LF: %d %s", resp.StatusCode, b)
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("upstream saw %d requests", n)
	}
}
