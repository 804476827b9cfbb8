package interop

import (
	"bufio"
	"context"
	"encoding/json"
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
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

const auditSecret = "interop-audit-secret-0123456789"

// TestInteropGoSDK is the go-sdk's own OAuth client (auth.AuthorizationCodeHandler)
// against the standalone server: discovery from the 401, dynamic client
// registration, the real sign-in and consent forms posted as a browser
// would, the code exchanged, and tools/call whoami. The audit stream
// reports the journey.
func TestInteropGoSDK(t *testing.T) {
	s := startServer(t, "-store", "memory:", "-audit-secret", auditSecret)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	events := subscribeAudit(t, ctx, s.issuer)

	redirectURI := "http://127.0.0.1:" + freePort(t) + "/callback"
	b := newFormBrowser(redirectURI)
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName:              "go-sdk interop test",
				RedirectURIs:            []string{redirectURI},
				GrantTypes:              []string{"authorization_code", "refresh_token"},
				ResponseTypes:           []string{"code"},
				TokenEndpointAuthMethod: "none",
			},
		},
		AuthorizationCodeFetcher: b.fetchCode(t, testUser, testPassword),
		RequestRefreshToken:      true,
	})
	if err != nil {
		t.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpauth-interop-go", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.mcpURL, OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer session.Close()
	if b.logins != 1 {
		t.Errorf("the fetcher ran %d times, want 1", b.logins)
	}

	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatalf("tools/call whoami: %v", err)
	}
	if res.IsError {
		t.Fatalf("whoami: tool error %+v", res.Content)
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var who struct {
		Sub      string   `json:"sub"`
		ClientID string   `json:"client_id"`
		Scopes   []string `json:"scopes"`
		Aud      []string `json:"aud"`
		Iss      string   `json:"iss"`
	}
	if err := json.Unmarshal(raw, &who); err != nil {
		t.Fatalf("whoami output %s: %v", raw, err)
	}
	t.Logf("whoami: %s", raw)
	if who.Sub != testUser || who.ClientID == "" || who.Iss != s.issuer || !slices.Contains(who.Aud, s.mcpURL) {
		t.Errorf("whoami = %s", raw)
	}
	for _, sc := range []string{"tools:read", "tools:execute", "offline_access"} {
		if !slices.Contains(who.Scopes, sc) {
			t.Errorf("scope %s not granted: %v", sc, who.Scopes)
		}
	}
	sum, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "add", Arguments: map[string]any{"a": 1.5, "b": 2}})
	if err != nil || sum.IsError {
		t.Fatalf("add: %v %+v", err, sum)
	}
	if got := sum.StructuredContent.(map[string]any)["sum"]; got != 3.5 {
		t.Errorf("add = %v", got)
	}

	tok, err := h.TokenSource(ctx)
	if err != nil || tok == nil {
		t.Fatalf("token source: %v", err)
	}
	if tk, err := tok.Token(); err != nil || tk.RefreshToken == "" {
		t.Errorf("no refresh token: %v", err)
	}

	// The audit stream saw the registration, the consent and the issuance.
	want := []string{"client.registered", "consent.granted", "token.issued"}
	for _, typ := range want {
		select {
		case ev := <-events:
			if ev.Type != typ {
				t.Fatalf("audit event %s, want %s", ev.Type, typ)
			}
			if ev.Type != "client.registered" && (ev.Sub != testUser || ev.ClientID != who.ClientID) {
				t.Errorf("audit event %+v", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s audit event", typ)
		}
	}
}

type auditEvent struct {
	Type     string `json:"type"`
	Sub      string `json:"sub"`
	ClientID string `json:"client_id"`
}

// subscribeAudit connects to the audit stream with the operator secret.
func subscribeAudit(t *testing.T, ctx context.Context, issuer string) <-chan auditEvent {
	t.Helper()
	meta := getJSON(t, issuer+"/.well-known/oauth-authorization-server")
	ext, _ := meta["grantex_extensions"].(map[string]any)
	streamURL, _ := ext["audit_stream"].(string)
	if streamURL != issuer+"/events/stream" {
		t.Fatalf("metadata advertises audit_stream %q", streamURL)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, streamURL, nil)
	req.Header.Set("Authorization", "Bearer "+auditSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("audit stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan auditEvent, 32)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev auditEvent
				if json.Unmarshal([]byte(data), &ev) == nil {
					ch <- ev
				}
			}
		}
	}()
	return ch
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return m
}

// formBrowser signs in and approves the way a browser does: it follows
// redirects within the authorization server, keeps cookies, and posts the
// pages' forms with their hidden fields (req, csrf). It stops at the
// redirect to the client's redirect URI, whose query is the answer.
type formBrowser struct {
	c           *http.Client
	redirectURI string
	logins      int
}

func newFormBrowser(redirectURI string) *formBrowser {
	jar, _ := cookiejar.New(nil)
	return &formBrowser{redirectURI: redirectURI, c: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), redirectURI) {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

// fetchCode is the AuthorizationCodeFetcher: the go-sdk hands it the
// authorization URL, as it would to a real browser.
func (b *formBrowser) fetchCode(t *testing.T, username, password string) auth.AuthorizationCodeFetcher {
	return func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
		b.logins++
		resp, err := b.do(ctx, http.MethodGet, args.URL, nil)
		if err != nil {
			return nil, err
		}
		login, err := readForm(resp)
		if err != nil {
			return nil, fmt.Errorf("sign-in page: %w", err)
		}
		if _, ok := login.fields["username"]; !ok {
			return nil, fmt.Errorf("sign-in page at %s has no username field", resp.Request.URL)
		}
		login.fields.Set("username", username)
		login.fields.Set("password", password)
		if resp, err = b.do(ctx, http.MethodPost, login.action, login.fields); err != nil {
			return nil, err
		}
		consent, err := readForm(resp)
		if err != nil {
			return nil, fmt.Errorf("consent page: %w", err)
		}
		consent.fields.Set("decision", "approve")
		if resp, err = b.do(ctx, http.MethodPost, consent.action, consent.fields); err != nil {
			return nil, err
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || !strings.HasPrefix(loc.String(), b.redirectURI) {
			return nil, fmt.Errorf("after consent: %d to %q, want the redirect URI", resp.StatusCode, resp.Header.Get("Location"))
		}
		q := loc.Query()
		if e := q.Get("error"); e != "" {
			return nil, fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
		}
		t.Logf("signed in and approved; redirected with code, state and iss=%s", q.Get("iss"))
		return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
	}
}

func (b *formBrowser) do(ctx context.Context, method, u string, form url.Values) (*http.Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", req.URL.Scheme+"://"+req.URL.Host)
	}
	return b.c.Do(req)
}

// form is a page's form: its absolute action and its fields' values.
type form struct {
	action string
	fields url.Values
}

var (
	formTag  = regexp.MustCompile(`(?is)<form\b[^>]*>`)
	inputTag = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attrRe   = regexp.MustCompile(`(?is)\b([a-z-]+)="([^"]*)"`)
)

func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRe.FindAllStringSubmatch(tag, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2])
	}
	return m
}

// readForm parses the page's (only) POST form; it needs the hidden req and csrf.
func readForm(resp *http.Response) (*form, error) {
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d: %.300s", resp.Request.URL, resp.StatusCode, page)
	}
	ft := formTag.Find(page)
	if ft == nil {
		return nil, fmt.Errorf("%s: no form: %.300s", resp.Request.URL, page)
	}
	fa := attrs(string(ft))
	if !strings.EqualFold(fa["method"], "post") {
		return nil, fmt.Errorf("form method %q, want post", fa["method"])
	}
	action, err := resp.Request.URL.Parse(fa["action"])
	if err != nil {
		return nil, err
	}
	f := &form{action: action.String(), fields: url.Values{}}
	for _, in := range inputTag.FindAll(page, -1) {
		a := attrs(string(in))
		if a["name"] != "" {
			f.fields.Set(a["name"], a["value"])
		}
	}
	for _, name := range []string{"req", "csrf"} {
		if f.fields.Get(name) == "" {
			return nil, errors.New("the form lacks its hidden " + name + " field")
		}
	}
	return f, nil
}
