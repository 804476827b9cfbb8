package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const policyRedirect = testRedirect // never served: the browser stops at it

var consentScopeName = regexp.MustCompile(`<span class="scope-name">([^<]*)</span>`)

// authorization is one run of the browser flow against the standalone server.
type authorization struct {
	shown    []string       // scopes on the consent page
	callback *url.URL       // where the client was sent
	token    map[string]any // the token response, when a code came back
}

// authorizeAs registers a client, signs user in, approves what the consent
// page shows and redeems the code: all over HTTP.
func authorizeAs(t *testing.T, iss, user, password, scope, resource string) authorization {
	t.Helper()
	clientID := registerPublicClient(t, iss, `"client_name":"policy test"`)

	var a authorization
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), policyRedirect) {
			a.callback = r.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	b := make([]byte, 32)
	rand.Read(b)
	verifier := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	_, loginPage := authorizePage(t, c, iss, clientID, url.Values{
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "resource": {resource}, "scope": {scope},
	})
	form := hiddenFields(loginPage)
	form.Set("username", user)
	form.Set("password", password)
	page := browse(t, c, http.MethodPost, iss+"/login", form)
	if a.callback != nil {
		return a // the request ended before consent
	}
	for _, m := range consentScopeName.FindAllStringSubmatch(page, -1) {
		a.shown = append(a.shown, m[1])
	}
	form = hiddenFields([]byte(page))
	form.Set("decision", "approve")
	browse(t, c, http.MethodPost, iss+"/consent", form)
	code := a.callback.Query().Get("code")
	if code == "" {
		return a
	}
	resp, err := http.PostForm(iss+"/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {policyRedirect}, "resource": {resource}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&a.token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %v", resp.StatusCode, a.token)
	}
	return a
}

func browse(t *testing.T, c *http.Client, method, u string, form url.Values) string {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// streamStatus opens the audit stream with a bearer token and closes it.
func streamStatus(t *testing.T, iss, token string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, iss+"/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// TestOperatorScope: over HTTP against the standalone server, audit:read
// (every user's audit events) is granted only to -operator accounts; a
// non-operator asking for it gets the rest of the request without it,
// consent page and token alike, and the audit stream refuses that token.
func TestOperatorScope(t *testing.T) {
	s := startRun(t, "-store", "memory:", "-user", "alice:alice-password", "-user", "ops:ops-password", "-operator", "ops")
	iss := s.issuer
	tests := []struct {
		user, scope string
		wantShown   []string
		wantScope   string // "" means no token
		wantErr     string
		wantStream  int
	}{
		{"alice", "tools:read audit:read", []string{"tools:read"}, "tools:read", "", http.StatusForbidden},
		{"alice", "audit:read", nil, "", "invalid_scope", 0},
		{"ops", "tools:read audit:read", []string{"tools:read", "audit:read"}, "tools:read audit:read", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.user+"/"+tt.scope, func(t *testing.T) {
			a := authorizeAs(t, iss, tt.user, tt.user+"-password", tt.scope, iss)
			if tt.wantErr != "" {
				if a.callback == nil {
					t.Fatalf("no callback, want error=%s", tt.wantErr)
				}
				if q := a.callback.Query(); q.Get("error") != tt.wantErr || q.Get("code") != "" || q.Get("iss") != iss {
					t.Fatalf("callback %v, want error=%s", a.callback, tt.wantErr)
				}
				return
			}
			if !slices.Equal(a.shown, tt.wantShown) {
				t.Errorf("consent page shows %v, want %v", a.shown, tt.wantShown)
			}
			if a.token["scope"] != tt.wantScope {
				t.Fatalf("token scope %v, want %q", a.token["scope"], tt.wantScope)
			}
			status, challenge := streamStatus(t, iss, a.token["access_token"].(string))
			if status != tt.wantStream {
				t.Fatalf("audit stream: %d %q, want %d", status, challenge, tt.wantStream)
			}
			if status == http.StatusForbidden && !strings.Contains(challenge, `error="insufficient_scope"`) {
				t.Errorf("audit stream challenge %q", challenge)
			}
		})
	}
}

func TestParseFlagsOperator(t *testing.T) {
	o, err := parseFlags(nil, envMap(map[string]string{"MCPAUTH_USER": "ann:pw1,bob:pw2", "MCPAUTH_OPERATOR": "ann, bob"}), io.Discard)
	if err != nil || !slices.Equal(o.operators, []string{"ann", "bob"}) {
		t.Fatalf("MCPAUTH_OPERATOR: %v %v", o, err)
	}
	if o, err := parseFlags(nil, envMap(nil), io.Discard); err != nil || len(o.operators) != 0 {
		t.Fatalf("default operators: %v %v", o, err)
	}
	if o, err := parseFlags([]string{"-operator", "admin"}, envMap(nil), io.Discard); err != nil || !slices.Equal(o.operators, []string{"admin"}) {
		t.Fatalf("-operator admin (the generated account): %v %v", o, err)
	}
	for _, args := range [][]string{
		{"-user", "ann:pw", "-operator", "bob"},
		{"-operator", "root"},
	} {
		_, err := parseFlags(args, envMap(nil), io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "-operator") {
			t.Errorf("%v: %v, want a usage error naming -operator", args, err)
		}
	}
}

// bearer adds a token to every request of an MCP client.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// TestDemoAddNeedsExecute: the demo's add tool answers a token without
// tools:execute with the 403 insufficient_scope challenge MCP clients step
// up on, not with a tool error; with the scope it adds.
func TestDemoAddNeedsExecute(t *testing.T) {
	s := startRun(t, "-store", "memory:", "-user", "alice:alice-password")
	iss := s.issuer
	call := func(t *testing.T, scope string) (*mcp.CallToolResult, error) {
		t.Helper()
		tok := authorizeAs(t, iss, "alice", "alice-password", scope, iss+"/mcp").token["access_token"].(string)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		t.Cleanup(cancel)
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "add-test", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{
			Endpoint: iss + "/mcp", HTTPClient: &http.Client{Transport: bearer{tok}}, MaxRetries: -1, DisableStandaloneSSE: true,
		}, nil)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		t.Cleanup(func() { cs.Close() })
		if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"}); err != nil || res.IsError {
			t.Fatalf("whoami: %v %+v", err, res)
		}
		// The same call, raw, to read the HTTP answer.
		body := `{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":40}}}`
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, iss+"/mcp", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Session-Id", cs.ID())
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		challenge := resp.Header.Get("WWW-Authenticate")
		if strings.Contains(scope, "tools:execute") {
			if resp.StatusCode != http.StatusOK {
				t.Errorf("raw add with tools:execute: %d %q", resp.StatusCode, challenge)
			}
		} else if resp.StatusCode != http.StatusForbidden || !strings.Contains(challenge, `error="insufficient_scope"`) ||
			!strings.Contains(challenge, "tools:execute") || !strings.Contains(challenge, `resource_metadata="`) {
			t.Errorf("raw add without tools:execute: %d %q, want 403 insufficient_scope naming tools:execute", resp.StatusCode, challenge)
		}
		return cs.CallTool(ctx, &mcp.CallToolParams{Name: "add", Arguments: map[string]any{"a": 2, "b": 40}})
	}
	t.Run("without tools:execute", func(t *testing.T) {
		res, err := call(t, "tools:read")
		if err == nil {
			t.Fatalf("add without tools:execute returned a result (isError %v) instead of the HTTP challenge", res.IsError)
		}
	})
	t.Run("with tools:execute", func(t *testing.T) {
		res, err := call(t, "tools:read tools:execute")
		if err != nil || res.IsError {
			t.Fatalf("add: %v %+v", err, res)
		}
		if out, _ := res.StructuredContent.(map[string]any); out["sum"] != 42.0 {
			t.Fatalf("add = %v", res.StructuredContent)
		}
	})
}
