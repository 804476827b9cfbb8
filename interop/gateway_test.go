package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// TestInteropGateway puts the standalone server, as a gateway with
// -remote-issuer, in front of an MCP server written with the TypeScript
// SDK (ts_upstream_server.mjs), with a second standalone server as the
// authorization server (-resource naming the gateway). The go-sdk's OAuth
// client discovers the authorization server from the gateway's 401,
// registers, signs in, consents and calls the TypeScript server's tools
// through the gateway: the upstream sees the verified grant in
// X-Mcp-Auth-* and never the token; spoofed identity headers sent to the
// gateway do not reach it.
func TestInteropGateway(t *testing.T) {
	node := requireNode(t)
	upstream := startTSUpstream(t, node)
	gwAddr := "127.0.0.1:" + freePort(t)
	gwURL := "http://" + gwAddr + "/mcp"
	as := startServer(t, "-store", "memory:", "-resource", gwURL)
	startGateway(t, "-addr", gwAddr, "-remote-issuer", as.issuer, "-upstream", upstream, "-log-level", "debug")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	redirectURI := "http://127.0.0.1:" + freePort(t) + "/callback"
	b := newFormBrowser(redirectURI)
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName:              "go-sdk gateway interop test",
				RedirectURIs:            []string{redirectURI},
				GrantTypes:              []string{"authorization_code", "refresh_token"},
				ResponseTypes:           []string{"code"},
				TokenEndpointAuthMethod: "none",
			},
		},
		AuthorizationCodeFetcher: b.fetchCode(t, testUser, testPassword),
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 16)
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpauth-interop-gateway", Version: "1.0.0"}, &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
			select {
			case logs <- fmt.Sprint(r.Params.Data):
			default:
			}
		},
	})
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: gwURL, OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect through the gateway: %v", err)
	}
	defer session.Close()
	if b.logins != 1 {
		t.Errorf("signed in %d times, want 1", b.logins)
	}
	if err := session.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
		t.Fatalf("logging/setLevel: %v", err)
	}

	who := callWhoami(t, ctx, session)
	t.Logf("the TypeScript server saw: %+v", who)
	if who.Subject != testUser || who.ClientID == "" || who.GrantID == "" || !slices.Contains(who.Scopes, "tools:read") {
		t.Errorf("identity at the upstream: %+v", who)
	}
	if who.AuthorizationReceived || who.CookieReceived || len(who.OtherIdentityHeaders) > 0 {
		t.Errorf("the upstream received credentials or stray identity headers: %+v", who)
	}

	// A tool whose response streams a notification before its result (SSE).
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "through the gateway"}})
	if err != nil || res.IsError {
		t.Fatalf("echo: %v %+v", err, res)
	}
	if txt := res.Content[0].(*mcp.TextContent).Text; txt != "through the gateway" {
		t.Errorf("echo = %q", txt)
	}
	// The client hands notifications to the handler on its own goroutine:
	// the one sent before the result may be handled after CallTool returns.
	select {
	case got := <-logs:
		if got != "echoing for "+testUser {
			t.Errorf("notification %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Error("the notification sent on the tool's response stream never arrived")
	}

	// The same token, by hand, with a forged identity in several spellings.
	ts, err := h.TokenSource(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	forged := map[string]string{
		"X-Mcp-Auth-Subject": "mallory", "X_Mcp_Auth_Subject": "mallory", "x-mcp-auth-scopes": "admin",
		"X-Mcp-Auth-Role": "admin", "Cookie": "session=stolen",
	}
	sid := rawMCP(t, ctx, gwURL, tok.AccessToken, "", forged,
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`).sessionID
	rawMCP(t, ctx, gwURL, tok.AccessToken, sid, forged, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	out := rawMCP(t, ctx, gwURL, tok.AccessToken, sid, forged, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
	var forgedWho whoamiResult
	if err := json.Unmarshal([]byte(out.text), &forgedWho); err != nil {
		t.Fatalf("whoami by hand: %q: %v", out.text, err)
	}
	if forgedWho.Subject != testUser || slices.Contains(forgedWho.Scopes, "admin") || forgedWho.CookieReceived ||
		forgedWho.AuthorizationReceived || len(forgedWho.OtherIdentityHeaders) > 0 {
		t.Errorf("forged headers reached the TypeScript server: %+v", forgedWho)
	}

	// Without a token the gateway answers, not the upstream.
	resp, err := http.Post(gwURL, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if wa := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(wa, `resource_metadata="http://`+gwAddr+`/.well-known/oauth-protected-resource/mcp"`) {
		t.Errorf("no token: %d %q", resp.StatusCode, wa)
	}
}

type whoamiResult struct {
	Subject               string   `json:"subject"`
	ClientID              string   `json:"client_id"`
	Scopes                []string `json:"scopes"`
	GrantID               string   `json:"grant_id"`
	AuthorizationReceived bool     `json:"authorization_received"`
	CookieReceived        bool     `json:"cookie_received"`
	OtherIdentityHeaders  []string `json:"other_identity_headers"`
}

func callWhoami(t *testing.T, ctx context.Context, s *mcp.ClientSession) whoamiResult {
	t.Helper()
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil || res.IsError {
		t.Fatalf("whoami: %v %+v", err, res)
	}
	var who whoamiResult
	txt := res.Content[0].(*mcp.TextContent).Text
	if err := json.Unmarshal([]byte(txt), &who); err != nil {
		t.Fatalf("whoami %q: %v", txt, err)
	}
	return who
}

type rawResult struct {
	sessionID string
	text      string // the first text content of a tools/call result
}

// rawMCP posts one JSON-RPC message with extra headers set verbatim (any
// spelling) and reads the JSON or SSE answer.
func rawMCP(t *testing.T, ctx context.Context, u, token, sid string, extra map[string]string, body string) rawResult {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	for k, v := range extra {
		req.Header[k] = []string{v}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s: %d %s", body, resp.StatusCode, raw)
	}
	out := rawResult{sessionID: resp.Header.Get("Mcp-Session-Id")}
	payload := string(raw)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		payload = ""
		for _, line := range strings.Split(string(raw), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(d, `"result"`) {
				payload = d
			}
		}
	}
	var msg struct {
		Result struct {
			Content []struct{ Text string } `json:"content"`
		} `json:"result"`
	}
	if json.Unmarshal([]byte(payload), &msg) == nil && len(msg.Result.Content) > 0 {
		out.text = msg.Result.Content[0].Text
	}
	return out
}

// requireNode finds Node 22 in node_modules (no browser needed), skipping
// (or failing under CI=true) when it is missing.
func requireNode(t *testing.T) string {
	t.Helper()
	node, _ := filepath.Abs(filepath.Join("node_modules", ".bin", "node"))
	out, err := exec.Command(node, "--version").Output()
	if runtime.GOOS != "linux" || err != nil || !strings.HasPrefix(string(out), "v22.") {
		msg := "missing Node 22 in interop/node_modules (run: npm ci --prefix interop)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node
}

// startTSUpstream runs ts_upstream_server.mjs on a free loopback port and
// returns its MCP URL.
func startTSUpstream(t *testing.T, node string) string {
	t.Helper()
	cmd := exec.Command(node, "ts_upstream_server.mjs")
	cmd.Env = append(cleanEnv(), "PORT=0")
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("TypeScript upstream log:\n%s", logs.String())
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "UPSTREAM_URL="); ok {
				found <- v
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(30 * time.Second):
		t.Fatalf("the TypeScript upstream did not start; log:\n%s", logs.String())
	}
	return ""
}

// startGateway runs the binary as a gateway (its flags in args) and waits
// for its health check.
func startGateway(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(serverBinary(t), append([]string{"-rate-limit", "off"}, args...)...)
	cmd.Env = cleanEnv()
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	out := &lockedBuffer{}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway exit after SIGINT: %v", err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("gateway still running 15s after SIGINT")
		}
		if t.Failed() {
			t.Logf("gateway banner:\n%s\ngateway log:\n%s", out.String(), logs.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var addr string
		for _, line := range strings.Split(out.String(), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Health:"); ok {
				addr = strings.TrimSpace(v)
			}
		}
		if addr != "" {
			if resp, err := http.Get(addr); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not healthy; banner %q, log:\n%s", out.String(), logs.String())
		}
	}
}
