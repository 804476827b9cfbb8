package mcpauth_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

const (
	auditSecret   = "operator-secret-for-tests-0123456789"
	auditRedirect = "http://127.0.0.1/cb"
)

// auditEnv is an authorization server on a real listener with the audit
// stream mounted at AuditStreamPath, as cmd/mcp-auth-server mounts it.
type auditEnv struct {
	srv    *mcpauth.Server
	ts     *httptest.Server
	issuer string
}

func newAuditEnv(t *testing.T, opts mcpauth.AuditStreamOptions) *auditEnv {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	srv, err := mcpauth.NewServer(mcpauth.Config{
		Issuer:        issuer,
		Scopes:        []string{"tools:read", mcpauth.AuditReadScope},
		DefaultScopes: []string{"tools:read"},
		Authenticator: mcpauthtest.AutoApprove("alice"),
		StaticClients: []store.Client{{ID: "cli", ClientMetadata: store.ClientMetadata{Name: "CLI", RedirectURIs: []string{auditRedirect}}}},
		RateLimits:    &limits.RateLimits{Disabled: true},
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	mux.Handle(mcpauth.AuditStreamPath, srv.AuditStreamHandler(opts))
	ts.Config.Handler = mux
	ts.Start()
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		srv.Close()
	})
	return &auditEnv{srv: srv, ts: ts, issuer: issuer}
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// login runs the authorization code flow (auto-approved) for scope.
func (e *auditEnv) login(t *testing.T, scope string) tokenResponse {
	t.Helper()
	verifier := make([]byte, 32)
	rand.Read(verifier)
	cv := base64.RawURLEncoding.EncodeToString(verifier)
	sum := sha256.Sum256([]byte(cv))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {"cli"},
		"redirect_uri":          {auditRedirect},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
		"state":                 {"st"},
		"scope":                 {scope},
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(e.issuer + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return e.token(t, url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {auditRedirect}, "code_verifier": {cv},
	})
}

func (e *auditEnv) token(t *testing.T, form url.Values) tokenResponse {
	t.Helper()
	form.Set("client_id", "cli")
	resp, err := http.PostForm(e.issuer+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tr tokenResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tr) != nil || tr.AccessToken == "" {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	return tr
}

func (e *auditEnv) revoke(t *testing.T, token string) {
	t.Helper()
	resp, err := http.PostForm(e.issuer+"/revoke", url.Values{"token": {token}, "client_id": {"cli"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
}

// sseMessage is one parsed Server-Sent Events message.
type sseMessage struct {
	ID, Event, Data string
	Comment         string
}

// subscribe connects to the stream with the bearer credential and returns
// its parsed messages; the connection closes with the test.
func (e *auditEnv) subscribe(t *testing.T, bearer string) (<-chan sseMessage, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.issuer+mcpauth.AuditStreamPath, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("subscribe: %d %s", resp.StatusCode, body)
	}
	ch := make(chan sseMessage, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var m sseMessage
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if m != (sseMessage{}) {
					ch <- m
				}
				m = sseMessage{}
			case strings.HasPrefix(line, ":"):
				m.Comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				m.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				m.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				m.Data = line[6:]
			}
		}
	}()
	// The opening comment proves the subscription is live.
	select {
	case m := <-ch:
		if m.Comment == "" {
			t.Fatalf("first message %+v, want the opening comment", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no opening comment")
	}
	return ch, resp
}

// nextEvent returns the next event message, skipping comments.
func nextEvent(t *testing.T, ch <-chan sseMessage) (sseMessage, mcpauth.Event) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatal("stream ended")
			}
			if m.Event == "" {
				continue
			}
			var ev mcpauth.Event
			if err := json.Unmarshal([]byte(m.Data), &ev); err != nil {
				t.Fatalf("data %q: %v", m.Data, err)
			}
			if m.ID != ev.ID || m.Event != string(ev.Type) {
				t.Fatalf("id/event lines %q/%q disagree with data %s", m.ID, m.Event, m.Data)
			}
			return m, ev
		case <-timeout:
			t.Fatal("no event within 5s")
		}
	}
}

func TestAuditStreamIssuedRefreshedRevoked(t *testing.T) {
	e := newAuditEnv(t, mcpauth.AuditStreamOptions{OperatorSecret: auditSecret})
	ch, resp := e.subscribe(t, auditSecret)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}

	tok := e.login(t, "tools:read")
	refreshed := e.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	e.revoke(t, refreshed.AccessToken)
	e.revoke(t, refreshed.RefreshToken)

	secrets := []string{tok.AccessToken, tok.RefreshToken, refreshed.AccessToken, refreshed.RefreshToken, auditSecret}
	want := []mcpauth.EventType{
		mcpauth.EventConsentGranted, mcpauth.EventTokenIssued, mcpauth.EventTokenRefreshed,
		mcpauth.EventTokenRevoked, mcpauth.EventGrantRevoked,
	}
	var grantID string
	for _, typ := range want {
		m, ev := nextEvent(t, ch)
		if ev.Type != typ {
			t.Fatalf("event %s, want %s (%s)", ev.Type, typ, m.Data)
		}
		for _, s := range secrets {
			if strings.Contains(m.Data, s) {
				t.Fatalf("event %s carries a token or secret: %s", typ, m.Data)
			}
		}
		if ev.ClientID != "cli" || ev.Subject != "alice" || ev.GrantID == "" || ev.ID == "" || ev.Time.IsZero() {
			t.Errorf("event %s lacks fields: %s", typ, m.Data)
		}
		if grantID == "" {
			grantID = ev.GrantID
		} else if ev.GrantID != grantID {
			t.Errorf("event %s for grant %s, want %s", typ, ev.GrantID, grantID)
		}
		if (typ == mcpauth.EventTokenIssued || typ == mcpauth.EventTokenRefreshed || typ == mcpauth.EventTokenRevoked) && ev.TokenID == "" {
			t.Errorf("event %s has no jti: %s", typ, m.Data)
		}
	}
}

func TestAuditStreamTokenNeedsAuditRead(t *testing.T) {
	e := newAuditEnv(t, mcpauth.AuditStreamOptions{})
	get := func(auth string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, e.issuer+mcpauth.AuditStreamPath, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	resp := get("")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d, want 401", resp.StatusCode)
	}
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `scope="audit:read"`) {
		t.Errorf("WWW-Authenticate %q", ch)
	}
	if resp := get("Basic YTpi"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("Basic: %d, want 401", resp.StatusCode)
	}
	if resp := get("Bearer " + auditSecret); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("operator secret with none configured: %d, want 401", resp.StatusCode)
	}
	if resp := get("Bearer not-a-token"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("garbage token: %d, want 401", resp.StatusCode)
	}
	plain := e.login(t, "tools:read")
	if resp := get("Bearer " + plain.AccessToken); resp.StatusCode != http.StatusForbidden {
		t.Errorf("token without audit:read: %d, want 403", resp.StatusCode)
	} else if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="insufficient_scope"`) {
		t.Errorf("403 WWW-Authenticate %q", ch)
	}
	if resp, err := http.Post(e.issuer+mcpauth.AuditStreamPath, "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %v, want 405", resp.StatusCode, err)
	}

	audit := e.login(t, mcpauth.AuditReadScope)
	ch, _ := e.subscribe(t, audit.AccessToken)
	reg, err := http.Post(e.issuer+"/register", "application/json",
		strings.NewReader(`{"redirect_uris":["http://127.0.0.1:5555/cb"],"token_endpoint_auth_method":"none"}`))
	if err != nil {
		t.Fatal(err)
	}
	reg.Body.Close()
	if _, ev := nextEvent(t, ch); ev.Type != mcpauth.EventClientRegistered || ev.ClientID == "" {
		t.Errorf("got %+v, want client.registered", ev)
	}

	// A revoked audit token no longer opens the stream.
	e.revoke(t, audit.AccessToken)
	if resp := get("Bearer " + audit.AccessToken); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", resp.StatusCode)
	}
}

func TestAuditStreamHeartbeat(t *testing.T) {
	e := newAuditEnv(t, mcpauth.AuditStreamOptions{OperatorSecret: auditSecret, Heartbeat: 20 * time.Millisecond})
	ch, _ := e.subscribe(t, auditSecret)
	select {
	case m := <-ch:
		if m.Comment != "heartbeat" || m.Event != "" {
			t.Errorf("got %+v, want a heartbeat comment", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat")
	}
}

// blockingWriter is a ResponseWriter whose writes block while gate is
// closed, standing in for a client that stopped reading.
type blockingWriter struct {
	header http.Header
	mu     sync.Mutex
	body   strings.Builder
	block  chan struct{} // non-nil: writes wait for it to close
	wrote  chan struct{} // signalled after every write
}

func (w *blockingWriter) Header() http.Header { return w.header }
func (w *blockingWriter) WriteHeader(int)     {}
func (w *blockingWriter) Flush()              {}
func (w *blockingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	block := w.block
	w.mu.Unlock()
	if block != nil {
		<-block
	}
	w.mu.Lock()
	w.body.Write(p)
	w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func TestAuditStreamDropsSlowSubscriber(t *testing.T) {
	e := newAuditEnv(t, mcpauth.AuditStreamOptions{})
	h := e.srv.AuditStreamHandler(mcpauth.AuditStreamOptions{
		OperatorSecret: auditSecret, Buffer: 2, Logger: slog.New(slog.DiscardHandler),
	})
	w := &blockingWriter{header: http.Header{}, wrote: make(chan struct{}, 1)}
	req := httptest.NewRequest(http.MethodGet, "/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+auditSecret)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(w, req)
	}()
	select {
	case <-w.wrote: // the opening comment: subscribed
	case <-time.After(5 * time.Second):
		t.Fatal("stream did not start")
	}
	gate := make(chan struct{})
	w.mu.Lock()
	w.block = gate
	w.mu.Unlock()

	// Each registration emits client.registered. One is taken by the stuck
	// writer, two fill the buffer, the rest overflow it: the subscriber is
	// dropped and registration never waits.
	register := func() {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, e.issuer+"/register",
			strings.NewReader(`{"redirect_uris":["http://127.0.0.1:5555/cb"],"token_endpoint_auth_method":"none"}`))
		r.Header.Set("Content-Type", "application/json")
		e.srv.ServeHTTP(rec, r)
		if rec.Code != http.StatusCreated {
			t.Fatalf("register: %d %s", rec.Code, rec.Body)
		}
	}
	start := time.Now()
	for range 6 {
		register()
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("registrations took %v with a stuck subscriber", d)
	}
	close(gate)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the dropped subscriber's response did not end")
	}
	w.mu.Lock()
	body := w.body.String()
	w.mu.Unlock()
	if n := strings.Count(body, "event: client.registered"); n > 3 {
		t.Errorf("%d events delivered, want at most 3 before the drop", n)
	}
	if !strings.HasSuffix(body, ": dropped: too slow\n\n") {
		t.Errorf("stream did not end with the drop notice:\n%s", body)
	}
}

// An idle stream outlives WriteTimeout, also over HTTP/2, where a write
// deadline left set would reset the stream when it passes.
func TestAuditStreamIdleOverHTTP2(t *testing.T) {
	e := newAuditEnv(t, mcpauth.AuditStreamOptions{})
	h2 := httptest.NewUnstartedServer(e.srv.AuditStreamHandler(mcpauth.AuditStreamOptions{
		OperatorSecret: auditSecret, WriteTimeout: 50 * time.Millisecond, Heartbeat: time.Hour,
		Logger: slog.New(slog.DiscardHandler),
	}))
	h2.EnableHTTP2 = true
	h2.StartTLS()
	defer h2.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h2.URL, nil)
	req.Header.Set("Authorization", "Bearer "+auditSecret)
	resp, err := h2.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %d, want HTTP/2 200", resp.Proto, resp.StatusCode)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(300 * time.Millisecond) // six write timeouts with nothing to send
	reg, err := http.Post(e.issuer+"/register", "application/json",
		strings.NewReader(`{"redirect_uris":["http://127.0.0.1:5555/cb"],"token_endpoint_auth_method":"none"}`))
	if err != nil {
		t.Fatal(err)
	}
	reg.Body.Close()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the idle stream was closed")
			}
			if l == "event: "+string(mcpauth.EventClientRegistered) {
				return
			}
		case <-timeout:
			t.Fatal("no event on the idle stream")
		}
	}
}
