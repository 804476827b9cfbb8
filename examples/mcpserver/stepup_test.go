package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// browser is an AuthorizationCodeFetcher that behaves like a user's
// browser: it keeps cookies, follows the authorization server's
// redirects, fills in the real sign-in form and approves on the real
// consent page, and stops at the redirect to the client.
type browser struct {
	redirect string
	client   *http.Client

	mu       sync.Mutex
	logins   int
	consents [][]string // the scopes each consent page showed
}

func newBrowser(redirect string) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{redirect: redirect}
	b.client = &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) || len(via) > 10 {
			return http.ErrUseLastResponse // the redirect to the client ends the journey
		}
		return nil
	}}
	return b
}

var (
	formAction    = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenInput   = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	scopeName     = regexp.MustCompile(`<span class="scope-name">([^<]*)</span>`)
	jsonrpcMethod = regexp.MustCompile(`"method":"([^"]*)"`)
)

func (b *browser) fetch(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", args.URL, nil)
	resp, err := b.client.Do(req)
	for range 5 {
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if loc, _ := resp.Location(); loc != nil && strings.HasPrefix(loc.String(), b.redirect) {
			q := loc.Query()
			if e := q.Get("error"); e != "" {
				return nil, fmt.Errorf("authorize: %s: %s", e, q.Get("error_description"))
			}
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: status %d: %s", resp.Request.URL, resp.StatusCode, body)
		}
		page := string(body)
		form := url.Values{}
		for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
		b.mu.Lock()
		switch {
		case strings.Contains(page, `name="password"`):
			b.logins++
			form.Set("username", "demo")
			form.Set("password", "correct horse")
		case strings.Contains(page, `name="decision"`):
			var scopes []string
			for _, m := range scopeName.FindAllStringSubmatch(page, -1) {
				scopes = append(scopes, html.UnescapeString(m[1]))
			}
			b.consents = append(b.consents, scopes)
			form.Set("decision", "approve")
		default:
			b.mu.Unlock()
			return nil, fmt.Errorf("%s: neither a sign-in nor a consent page: %s", resp.Request.URL, page)
		}
		b.mu.Unlock()
		action := formAction.FindStringSubmatch(page)
		if action == nil {
			return nil, fmt.Errorf("%s: no form", resp.Request.URL)
		}
		target, err := resp.Request.URL.Parse(html.UnescapeString(action[1]))
		if err != nil {
			return nil, err
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", target.String(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err = b.client.Do(req)
	}
	return nil, errors.New("authorize: too many pages")
}

// exchange is one HTTP exchange, as the server saw it.
type exchange struct {
	method string // JSON-RPC method of a POST to /mcp, else "METHOD /path"
	status int
	chal   string
}

// TestMCPServerStepUp drives the MCP Go SDK's own OAuth client through
// step-up authorization (MCP 2025-11-25 §Step-Up Authorization Flow)
// against the example, with the real sign-in and consent pages:
//
//  1. connect: 401 → metadata → dynamic registration → sign in → consent
//     to tools:read → token → initialize succeeds;
//  2. whoami (needs tools:read) succeeds;
//  3. add (needs tools:execute too) → 403 insufficient_scope naming
//     "tools:read tools:execute" → the SDK authorizes again for both
//     (registering anew, already signed in: consent only) → the retried
//     call succeeds on the same session.
func TestMCPServerStepUp(t *testing.T) {
	var mu sync.Mutex
	var seen []exchange
	observe := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			method := r.Method + " " + r.URL.Path
			if r.URL.Path == "/mcp" && r.Method == http.MethodPost {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(strings.NewReader(string(body)))
				if m := jsonrpcMethod.FindSubmatch(body); m != nil {
					method = string(m[1])
				}
			}
			// Logged when the status is written, before the client can see the answer.
			next.ServeHTTP(&statusRecorder{ResponseWriter: w, onStatus: func(status int) {
				mu.Lock()
				seen = append(seen, exchange{method, status, w.Header().Get("WWW-Authenticate")})
				mu.Unlock()
			}}, r)
		})
	}
	base := startObservedServer(t, "", observe)
	const redirect = "http://127.0.0.1:9/callback" // never served: the browser stops at it
	b := newBrowser(redirect)
	oauth, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{
				RedirectURIs:            []string{redirect},
				ClientName:              "step-up test",
				TokenEndpointAuthMethod: "none",
				GrantTypes:              []string{"authorization_code", "refresh_token"},
			},
		},
		RedirectURL:              redirect,
		AuthorizationCodeFetcher: b.fetch,
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "step-up", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", OAuthHandler: oauth, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	session := cs.ID()
	if b.logins != 1 || len(b.consents) != 1 || fmt.Sprint(b.consents[0]) != "[tools:read]" {
		t.Fatalf("after connect: %d sign-ins, consents %q; want 1 and [[tools:read]]", b.logins, b.consents)
	}

	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil || res.IsError {
		t.Fatalf("whoami: %v %+v", err, res)
	}
	if out, _ := res.StructuredContent.(map[string]any); fmt.Sprint(out["scopes"]) != "[tools:read]" {
		t.Fatalf("whoami before step-up: %v", res.StructuredContent)
	}

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "add", Arguments: map[string]any{"a": 2, "b": 40}})
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	if out, _ := res.StructuredContent.(map[string]any); res.IsError || out["sum"] != 42.0 {
		t.Fatalf("add = %+v (structured %v)", res.Content, res.StructuredContent)
	}
	if cs.ID() != session {
		t.Errorf("session changed from %q to %q", session, cs.ID())
	}
	// One sign-in in all; the second consent page asked for both scopes.
	if b.logins != 1 || len(b.consents) != 2 {
		t.Fatalf("%d sign-ins, consents %q; want 1 sign-in and 2 consents", b.logins, b.consents)
	}
	if got := slices.Sorted(slices.Values(b.consents[1])); fmt.Sprint(got) != "[tools:execute tools:read]" {
		t.Errorf("step-up consent showed %q, want tools:read and tools:execute", b.consents[1])
	}

	// What the server answered: the 403 is the only refusal after
	// connecting, and names every scope add needs.
	mu.Lock()
	log := slices.Clone(seen)
	mu.Unlock()
	var calls []exchange
	registrations := 0
	for _, e := range log {
		t.Logf("%s: %d %s", e.method, e.status, e.chal)
		switch e.method {
		case "tools/call":
			calls = append(calls, e)
		case "POST /register":
			registrations++
		}
	}
	if registrations != 2 {
		t.Errorf("dynamic registrations = %d, want 2 (the SDK registers again on step-up)", registrations)
	}
	prm := base + "/.well-known/oauth-protected-resource/mcp"
	want := []exchange{
		{"tools/call", 200, ""}, // whoami
		{"tools/call", 403, `Bearer error="insufficient_scope", error_description="the token lacks a required scope: tools:read tools:execute", scope="tools:read tools:execute", resource_metadata="` + prm + `"`},
		{"tools/call", 200, ""}, // add, retried with the new token
	}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("tools/call exchanges:\n got %+v\nwant %+v", calls, want)
	}
	if log[0].status != 401 || !strings.HasPrefix(log[0].chal, `Bearer scope="tools:read", resource_metadata=`) {
		t.Errorf("first exchange = %+v, want a 401 challenge for tools:read", log[0])
	}

	// The new token carries both scopes.
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil || res.IsError {
		t.Fatalf("whoami after step-up: %v %+v", err, res)
	}
	if out, _ := res.StructuredContent.(map[string]any); !strings.Contains(fmt.Sprint(out["scopes"]), "tools:execute") {
		t.Errorf("whoami after step-up: scopes %v", out["scopes"])
	}
}

// statusRecorder calls onStatus with the response status, once.
type statusRecorder struct {
	http.ResponseWriter
	onStatus func(int)
	done     bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.done {
		r.done = true
		r.onStatus(code)
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.done {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
