package grantex

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fastRetries keeps retry tests quick.
var fastRetries = []Option{WithBackoff(time.Millisecond, 5*time.Millisecond), WithMaxAttempts(3)}

func newTestClient(t *testing.T, url string, opts ...Option) *Client {
	t.Helper()
	c, err := New(url, "gx_test_0123456789abcdef", "ag_1", append(append([]Option{}, fastRetries...), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// recorded is one request as the test server saw it.
type recorded struct {
	method, path, rawPath string
	header                http.Header
	body                  map[string]any
}

// stub answers every request with status and body, recording requests.
type stub struct {
	mu       sync.Mutex
	reqs     []recorded
	status   int
	body     string
	header   http.Header
	response func(w http.ResponseWriter, r *http.Request, n int) // overrides status/body when set
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	s.mu.Lock()
	s.reqs = append(s.reqs, recorded{r.Method, r.URL.Path, r.URL.EscapedPath(), r.Header.Clone(), body})
	n := len(s.reqs)
	s.mu.Unlock()
	if s.response != nil {
		s.response(w, r, n)
		return
	}
	for k, v := range s.header {
		w.Header()[k] = v
	}
	w.WriteHeader(s.status)
	_, _ = io.WriteString(w, s.body)
}

func (s *stub) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func (s *stub) last() recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func TestNew(t *testing.T) {
	tests := []struct {
		name, base, key, agent string
		opts                   []Option
		wantErr                bool
		wantBase, wantJWKS     string
	}{
		{name: "ok", base: "https://api.grantex.dev/", key: "k", agent: "a",
			wantBase: "https://api.grantex.dev", wantJWKS: "https://api.grantex.dev/.well-known/jwks.json"},
		{name: "path prefix kept", base: "http://127.0.0.1:8080/grantex", key: "k", agent: "a",
			wantBase: "http://127.0.0.1:8080/grantex", wantJWKS: "http://127.0.0.1:8080/grantex/.well-known/jwks.json"},
		{name: "JWKS override", base: "https://api.grantex.dev", key: "k", agent: "a",
			opts:     []Option{WithJWKSURL("https://keys.example/jwks.json")},
			wantBase: "https://api.grantex.dev", wantJWKS: "https://keys.example/jwks.json"},
		{name: "bad scheme", base: "ftp://x", key: "k", agent: "a", wantErr: true},
		{name: "no host", base: "https://", key: "k", agent: "a", wantErr: true},
		{name: "query", base: "https://x/?a=b", key: "k", agent: "a", wantErr: true},
		{name: "userinfo", base: "https://u:p@x", key: "k", agent: "a", wantErr: true},
		{name: "empty key", base: "https://x", key: "", agent: "a", wantErr: true},
		{name: "key with newline", base: "https://x", key: "k\r\nX-Evil: 1", agent: "a", wantErr: true},
		{name: "key with space", base: "https://x", key: "a b", agent: "a", wantErr: true},
		{name: "empty agent", base: "https://x", key: "k", agent: "", wantErr: true},
		{name: "zero attempts", base: "https://x", key: "k", agent: "a", opts: []Option{WithMaxAttempts(0)}, wantErr: true},
		{name: "bad JWKS", base: "https://x", key: "k", agent: "a", opts: []Option{WithJWKSURL("jwks.json")}, wantErr: true},
		{name: "bad backoff", base: "https://x", key: "k", agent: "a", opts: []Option{WithBackoff(time.Second, time.Millisecond)}, wantErr: true},
		{name: "nil http client", base: "https://x", key: "k", agent: "a", opts: []Option{WithHTTPClient(nil)}, wantErr: true},
		{name: "nil logger", base: "https://x", key: "k", agent: "a", opts: []Option{WithLogger(nil)}, wantErr: true},
		{name: "bad user agent", base: "https://x", key: "k", agent: "a", opts: []Option{WithUserAgent("a\nb")}, wantErr: true},
		{name: "bad body limit", base: "https://x", key: "k", agent: "a", opts: []Option{WithMaxResponseBytes(0)}, wantErr: true},
		{name: "negative timeout", base: "https://x", key: "k", agent: "a", opts: []Option{WithAttemptTimeout(-1)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.base, tt.key, tt.agent, tt.opts...)
			if tt.wantErr {
				if err == nil {
					t.Fatal("New succeeded, want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.BaseURL() != tt.wantBase || c.JWKSURL() != tt.wantJWKS {
				t.Errorf("BaseURL, JWKSURL = %q, %q; want %q, %q", c.BaseURL(), c.JWKSURL(), tt.wantBase, tt.wantJWKS)
			}
		})
	}
}

// TestSuccess checks each call's method, path, headers, body and decoding
// against the statuses of contract §1.1.
func TestSuccess(t *testing.T) {
	exp := "2026-08-22T10:00:00.000Z"
	wantExp, _ := time.Parse(time.RFC3339, exp)
	tokenBody := `{"grantToken":"eyJ.x.y","expiresAt":"` + exp + `","scopes":["read","write"],"refreshToken":"ref_1","grantId":"grnt_1"}`
	checkToken := func(t *testing.T, got any) {
		tok := got.(*Token)
		if tok.GrantToken != "eyJ.x.y" || tok.RefreshToken != "ref_1" || tok.GrantID != "grnt_1" ||
			len(tok.Scopes) != 2 || !tok.ExpiresAt.Equal(wantExp) {
			t.Errorf("token = %+v", tok)
		}
	}
	tests := []struct {
		name       string
		status     int
		respBody   string
		call       func(c *Client) (any, error)
		wantMethod string
		wantPath   string
		wantBody   map[string]any
		check      func(t *testing.T, got any)
	}{
		{
			name: "authorize fills agent", status: 201,
			respBody: `{"authRequestId":"areq_1","consentUrl":"https://g/consent?req=areq_1","expiresAt":"` + exp + `"}`,
			call: func(c *Client) (any, error) {
				return c.Authorize(context.Background(), AuthorizeParams{PrincipalID: "u1", Scopes: []string{"read"},
					RedirectURI: "https://as/callback", State: "st", CodeChallenge: strings.Repeat("a", 43), CodeChallengeMethod: "S256"})
			},
			wantMethod: "POST", wantPath: "/v1/authorize",
			wantBody: map[string]any{"agentId": "ag_1", "principalId": "u1", "scopes": []any{"read"},
				"redirectUri": "https://as/callback", "state": "st", "codeChallenge": strings.Repeat("a", 43), "codeChallengeMethod": "S256"},
			check: func(t *testing.T, got any) {
				ar := got.(*AuthRequest)
				if ar.AuthRequestID != "areq_1" || ar.ConsentURL != "https://g/consent?req=areq_1" || !ar.ExpiresAt.Equal(wantExp) || ar.Code != "" {
					t.Errorf("auth request = %+v", ar)
				}
			},
		},
		{
			name: "authorize sandbox keeps explicit agent", status: 201,
			respBody: `{"authRequestId":"areq_2","consentUrl":"u","expiresAt":"` + exp + `","sandbox":true,"code":"01J"}`,
			call: func(c *Client) (any, error) {
				return c.Authorize(context.Background(), AuthorizeParams{AgentID: "ag_other", PrincipalID: "u", Scopes: []string{"s"}})
			},
			wantMethod: "POST", wantPath: "/v1/authorize",
			wantBody: map[string]any{"agentId": "ag_other", "principalId": "u", "scopes": []any{"s"}},
			check: func(t *testing.T, got any) {
				if ar := got.(*AuthRequest); !ar.Sandbox || ar.Code != "01J" {
					t.Errorf("auth request = %+v", ar)
				}
			},
		},
		{
			name: "exchange", status: 201, respBody: tokenBody,
			call:       func(c *Client) (any, error) { return c.ExchangeCode(context.Background(), "01CODE", "verifier") },
			wantMethod: "POST", wantPath: "/v1/token",
			wantBody: map[string]any{"code": "01CODE", "agentId": "ag_1", "codeVerifier": "verifier"},
			check:    checkToken,
		},
		{
			name: "exchange without verifier", status: 201, respBody: tokenBody,
			call:       func(c *Client) (any, error) { return c.ExchangeCode(context.Background(), "01CODE", "") },
			wantMethod: "POST", wantPath: "/v1/token",
			wantBody: map[string]any{"code": "01CODE", "agentId": "ag_1"},
			check:    checkToken,
		},
		{
			name: "refresh", status: 201, respBody: tokenBody,
			call:       func(c *Client) (any, error) { return c.RefreshToken(context.Background(), "ref_0") },
			wantMethod: "POST", wantPath: "/v1/token/refresh",
			wantBody: map[string]any{"refreshToken": "ref_0", "agentId": "ag_1"},
			check:    checkToken,
		},
		{
			name: "verify valid", status: 200,
			respBody:   `{"valid":true,"grantId":"grnt_1","scopes":["read"],"principal":"u1","agent":"did:grantex:ag_1","expiresAt":"` + exp + `"}`,
			call:       func(c *Client) (any, error) { return c.VerifyToken(context.Background(), "eyJ.a.b") },
			wantMethod: "POST", wantPath: "/v1/tokens/verify",
			wantBody: map[string]any{"token": "eyJ.a.b"},
			check: func(t *testing.T, got any) {
				v := got.(*Verification)
				if !v.Valid || v.GrantID != "grnt_1" || v.Principal != "u1" || v.Agent != "did:grantex:ag_1" || !v.ExpiresAt.Equal(wantExp) {
					t.Errorf("verification = %+v", v)
				}
			},
		},
		{
			name: "verify invalid", status: 200, respBody: `{"valid":false}`,
			call:       func(c *Client) (any, error) { return c.VerifyToken(context.Background(), "garbage") },
			wantMethod: "POST", wantPath: "/v1/tokens/verify",
			wantBody: map[string]any{"token": "garbage"},
			check: func(t *testing.T, got any) {
				if v := got.(*Verification); v.Valid {
					t.Errorf("verification = %+v", v)
				}
			},
		},
		{
			name: "revoke token", status: 204,
			call:       func(c *Client) (any, error) { return nil, c.RevokeToken(context.Background(), "tok_1") },
			wantMethod: "POST", wantPath: "/v1/tokens/revoke",
			wantBody: map[string]any{"jti": "tok_1"},
		},
		{
			name: "revoke grant", status: 204,
			call:       func(c *Client) (any, error) { return nil, c.RevokeGrant(context.Background(), "grnt_1") },
			wantMethod: "DELETE", wantPath: "/v1/grants/grnt_1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &stub{status: tt.status, body: tt.respBody}
			c := newTestClient(t, serve(t, st).URL)
			got, err := tt.call(c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if st.count() != 1 {
				t.Fatalf("requests = %d, want 1", st.count())
			}
			r := st.last()
			if r.method != tt.wantMethod || r.path != tt.wantPath {
				t.Errorf("request = %s %s, want %s %s", r.method, r.path, tt.wantMethod, tt.wantPath)
			}
			wantHeaders := map[string]string{
				"Authorization": "Bearer gx_test_0123456789abcdef",
				"Accept":        "application/json",
				"User-Agent":    DefaultUserAgent,
			}
			if tt.wantBody != nil {
				wantHeaders["Content-Type"] = "application/json"
			}
			for k, v := range wantHeaders {
				if got := r.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			gotBody, _ := json.Marshal(r.body)
			wantBody, _ := json.Marshal(tt.wantBody)
			if string(gotBody) != string(wantBody) {
				t.Errorf("body = %s, want %s", gotBody, wantBody)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

// TestErrorAnswers covers every error status of contract §1 with the flat,
// nested, Fastify-default, non-JSON and empty body shapes.
func TestErrorAnswers(t *testing.T) {
	const rid = "0b7c5f4e-9a59-4a43-8d5b-8f0f6c6f7e01"
	tests := []struct {
		name         string
		status       int
		body         string
		retryAfter   string
		wantCode     string
		wantMessage  string
		wantReqID    string
		wantRetry    time.Duration
		wantRetrying bool
	}{
		{name: "400 invalid code", status: 400, body: `{"message":"Invalid code","code":"BAD_REQUEST","requestId":"` + rid + `"}`,
			wantCode: "BAD_REQUEST", wantMessage: "Invalid code", wantReqID: rid},
		{name: "401 unauthorized", status: 401, body: `{"message":"Invalid API key","code":"UNAUTHORIZED","requestId":"` + rid + `"}`,
			wantCode: "UNAUTHORIZED", wantMessage: "Invalid API key", wantReqID: rid},
		{name: "402 plan limit", status: 402, body: `{"message":"Plan limit","code":"PLAN_LIMIT_EXCEEDED","requestId":"r"}`,
			wantCode: "PLAN_LIMIT_EXCEEDED", wantMessage: "Plan limit", wantReqID: "r"},
		{name: "403 policy denied", status: 403, body: `{"message":"Denied","code":"POLICY_DENIED","requestId":"r"}`,
			wantCode: "POLICY_DENIED", wantMessage: "Denied", wantReqID: "r"},
		{name: "403 depth", status: 403, body: `{"message":"too deep","code":"DELEGATION_DEPTH_EXCEEDED","requestId":"r"}`,
			wantCode: "DELEGATION_DEPTH_EXCEEDED", wantMessage: "too deep", wantReqID: "r"},
		{name: "404 agent", status: 404, body: `{"message":"Agent not found","code":"NOT_FOUND","requestId":"r"}`,
			wantCode: "NOT_FOUND", wantMessage: "Agent not found", wantReqID: "r"},
		{name: "409 nested commerce envelope", status: 409, body: `{"error":{"code":"GRANT_INACTIVE","message":"Grant is not active"}}`,
			wantCode: "GRANT_INACTIVE", wantMessage: "Grant is not active"},
		{name: "410 gone", status: 410, body: `{"message":"expired","code":"GONE","requestId":"r"}`,
			wantCode: "GONE", wantMessage: "expired", wantReqID: "r"},
		{name: "429 seconds", status: 429, retryAfter: "7",
			body:     `{"message":"Rate limit exceeded, retry in 7 seconds","code":"RATE_LIMITED","requestId":"r"}`,
			wantCode: "RATE_LIMITED", wantMessage: "Rate limit exceeded, retry in 7 seconds", wantReqID: "r", wantRetry: 7 * time.Second, wantRetrying: true},
		{name: "429 fastify default", status: 429, body: `{"statusCode":429,"error":"Too Many Requests","message":"Rate limit exceeded, retry in 1 minute"}`,
			wantMessage: "Rate limit exceeded, retry in 1 minute", wantRetrying: true},
		{name: "404 fastify default without message", status: 404, body: `{"statusCode":404,"error":"Not Found"}`,
			wantMessage: "Not Found"},
		{name: "500 internal", status: 500, body: `{"message":"An unexpected error occurred","code":"INTERNAL_ERROR","requestId":"r"}`,
			wantCode: "INTERNAL_ERROR", wantMessage: "An unexpected error occurred", wantReqID: "r"},
		{name: "502 HTML from proxy", status: 502, body: `<html><body>Bad Gateway</body></html>`,
			wantMessage: "Bad Gateway", wantRetrying: true},
		{name: "503 limiter down", status: 503, body: `{"message":"Rate limiting unavailable","code":"RATE_LIMIT_UNAVAILABLE","requestId":"r"}`,
			wantCode: "RATE_LIMIT_UNAVAILABLE", wantMessage: "Rate limiting unavailable", wantReqID: "r", wantRetrying: true},
		{name: "504 empty body", status: 504, wantMessage: "Gateway Timeout", wantRetrying: true},
		{name: "418 wrong types", status: 418, body: `{"message":42,"code":["x"],"error":"str"}`, wantMessage: "str"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &stub{status: tt.status, body: tt.body, header: http.Header{}}
			if tt.retryAfter != "" {
				st.header.Set("Retry-After", tt.retryAfter)
			}
			c := newTestClient(t, serve(t, st).URL, WithMaxAttempts(1))
			_, err := c.VerifyToken(context.Background(), "t")
			e, ok := errors.AsType[*APIError](err)
			if !ok {
				t.Fatalf("error = %v (%T), want *APIError", err, err)
			}
			if e.StatusCode != tt.status || e.Code != tt.wantCode || e.Message != tt.wantMessage ||
				e.RequestID != tt.wantReqID || e.RetryAfter != tt.wantRetry {
				t.Errorf("APIError = %+v, want status %d code %q message %q requestId %q retryAfter %v",
					e, tt.status, tt.wantCode, tt.wantMessage, tt.wantReqID, tt.wantRetry)
			}
			if IsRetryable(err) != tt.wantRetrying {
				t.Errorf("IsRetryable = %v, want %v", IsRetryable(err), tt.wantRetrying)
			}
			if StatusCode(err) != tt.status || ErrorCode(err) != tt.wantCode || RetryAfter(err) != tt.wantRetry {
				t.Errorf("helpers disagree: %d %q %v", StatusCode(err), ErrorCode(err), RetryAfter(err))
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("Error() = %q lacks the message", err.Error())
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 8, 22, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"12", 12 * time.Second},
		{" 3 ", 3 * time.Second},
		{"99999999999999999999", 0},
		{"9999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"Sunday, 06-Nov-94 08:49:37 GMT", 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestRetryAfterHTTPDate: an HTTP-date Retry-After reaches the APIError
// relative to the client's clock.
func TestRetryAfterHTTPDate(t *testing.T) {
	now := time.Date(2026, 8, 22, 10, 0, 0, 0, time.UTC)
	st := &stub{status: 429, body: `{"message":"slow down","code":"RATE_LIMITED"}`,
		header: http.Header{"Retry-After": {now.Add(45 * time.Second).Format(http.TimeFormat)}}}
	c := newTestClient(t, serve(t, st).URL, withClock(func() time.Time { return now }), WithMaxRetryWait(time.Second))
	_, err := c.Authorize(context.Background(), AuthorizeParams{PrincipalID: "u", Scopes: []string{"s"}})
	if RetryAfter(err) != 45*time.Second || !IsRateLimited(err) {
		t.Fatalf("err = %v, RetryAfter %v", err, RetryAfter(err))
	}
	// 45 s exceeds the 1 s cap: answered at once, not waited out.
	if st.count() != 1 {
		t.Errorf("requests = %d, want 1", st.count())
	}
}

// failure is a way a request can fail, as the test server or dialer makes it.
type failure string

const (
	fail429   failure = "429"
	fail500   failure = "500"
	fail502   failure = "502"
	fail503   failure = "503"
	fail504   failure = "504"
	fail400   failure = "400"
	failDrop  failure = "drop after reading the request"
	failDial  failure = "dial refused"
	failStall failure = "attempt timeout after sending"
)

// calls are the six API calls, by name.
var calls = map[string]func(c *Client, ctx context.Context) error{
	"Authorize": func(c *Client, ctx context.Context) error {
		_, err := c.Authorize(ctx, AuthorizeParams{PrincipalID: "u", Scopes: []string{"s"}})
		return err
	},
	"ExchangeCode": func(c *Client, ctx context.Context) error { _, err := c.ExchangeCode(ctx, "code", "v"); return err },
	"RefreshToken": func(c *Client, ctx context.Context) error { _, err := c.RefreshToken(ctx, "ref_1"); return err },
	"VerifyToken":  func(c *Client, ctx context.Context) error { _, err := c.VerifyToken(ctx, "t"); return err },
	"RevokeToken":  func(c *Client, ctx context.Context) error { return c.RevokeToken(ctx, "tok_1") },
	"RevokeGrant":  func(c *Client, ctx context.Context) error { return c.RevokeGrant(ctx, "grnt_1") },
}

// TestRetryPolicy proves which failures each call re-sends, with 3 attempts
// allowed and a server that always fails. Above all: ExchangeCode and
// RefreshToken are sent exactly once whenever the server may have processed
// them (contract §1.10), and only re-sent when it provably did not.
func TestRetryPolicy(t *testing.T) {
	// Attempts per call: Authorize, ExchangeCode, RefreshToken, VerifyToken, RevokeToken, RevokeGrant.
	want := map[failure][6]int{
		fail429:   {3, 3, 3, 3, 3, 3}, // limiters reject before the handler runs
		fail503:   {3, 3, 3, 3, 3, 3}, // refused before processing
		fail502:   {3, 1, 1, 3, 3, 3}, // the upstream may have committed
		fail504:   {3, 1, 1, 3, 3, 3},
		fail500:   {1, 1, 1, 1, 1, 1}, // not transient
		fail400:   {1, 1, 1, 1, 1, 1},
		failDrop:  {1, 1, 1, 3, 3, 3}, // request delivered, answer lost
		failStall: {1, 1, 1, 3, 3, 3},
		failDial:  {3, 3, 3, 3, 3, 3}, // nothing was sent
	}
	names := []string{"Authorize", "ExchangeCode", "RefreshToken", "VerifyToken", "RevokeToken", "RevokeGrant"}
	for f, counts := range want {
		for i, name := range names {
			t.Run(string(f)+"/"+name, func(t *testing.T) {
				t.Parallel()
				var served atomic.Int32
				ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					served.Add(1)
					_, _ = io.ReadAll(r.Body)
					switch f {
					case failDrop:
						panic(http.ErrAbortHandler)
					case failStall:
						<-r.Context().Done()
						return
					}
					w.Header().Set("Content-Type", "application/json")
					var status int
					switch f {
					case fail429:
						status = 429
					case fail500:
						status = 500
					case fail502:
						status = 502
					case fail503:
						status = 503
					case fail504:
						status = 504
					default:
						status = 400
					}
					w.WriteHeader(status)
					_, _ = io.WriteString(w, `{"message":"no","code":"X","requestId":"r"}`)
				}))
				var dials atomic.Int32
				tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					if f == failDial {
						return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
					}
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				}}
				t.Cleanup(tr.CloseIdleConnections)
				opts := []Option{WithHTTPClient(&http.Client{Transport: tr})}
				if f == failStall {
					// Long enough for the request to reach the server even under -race
					// with every subtest in parallel.
					opts = append(opts, WithAttemptTimeout(500*time.Millisecond))
				}
				c := newTestClient(t, ts.URL, opts...)
				err := calls[name](c, context.Background())
				if err == nil {
					t.Fatal("call succeeded, want error")
				}
				got := int(served.Load())
				if f == failDial {
					got = int(dials.Load())
				}
				if got != counts[i] {
					t.Errorf("attempts = %d, want %d (err %v)", got, counts[i], err)
				}
				if f == failDrop || f == failStall {
					if !IsOutcomeUnknown(err) {
						t.Errorf("IsOutcomeUnknown(%v) = false", err)
					}
				}
				if f == failDial {
					if ne, ok := errors.AsType[*NetworkError](err); !ok || !ne.Unsent || !errors.Is(err, syscall.ECONNREFUSED) {
						t.Errorf("err = %v, want unsent NetworkError wrapping ECONNREFUSED", err)
					}
				}
			})
		}
	}
}

// TestRetryRecovers: a transient failure followed by success returns the
// success, for each call that retries it.
func TestRetryRecovers(t *testing.T) {
	okBodies := map[string]string{
		"/v1/authorize":     `{"authRequestId":"areq_1","consentUrl":"u","expiresAt":"2026-08-22T10:00:00.000Z"}`,
		"/v1/token":         `{"grantToken":"t","expiresAt":"2026-08-22T10:00:00.000Z","scopes":["s"],"refreshToken":"ref_2","grantId":"grnt_1"}`,
		"/v1/token/refresh": `{"grantToken":"t","expiresAt":"2026-08-22T10:00:00.000Z","scopes":["s"],"refreshToken":"ref_2","grantId":"grnt_1"}`,
		"/v1/tokens/verify": `{"valid":true}`,
		"/v1/tokens/revoke": ``,
		"/v1/grants/grnt_1": ``,
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			st := &stub{response: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(http.StatusTooManyRequests)
					_, _ = io.WriteString(w, `{"message":"Rate limit exceeded, retry in 0 seconds","code":"RATE_LIMITED"}`)
					return
				}
				body := okBodies[r.URL.Path]
				switch {
				case body == "":
					w.WriteHeader(http.StatusNoContent)
				case r.URL.Path == "/v1/tokens/verify":
					w.WriteHeader(http.StatusOK)
				default:
					w.WriteHeader(http.StatusCreated)
				}
				_, _ = io.WriteString(w, body)
			}}
			c := newTestClient(t, serve(t, st).URL)
			if err := call(c, context.Background()); err != nil {
				t.Fatalf("call: %v", err)
			}
			if st.count() != 2 {
				t.Errorf("requests = %d, want 2", st.count())
			}
		})
	}
}

// TestRetryAfterHonoured: the client waits at least Retry-After before the
// next attempt.
func TestRetryAfterHonoured(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	st := &stub{response: func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"valid":false}`)
	}}
	c := newTestClient(t, serve(t, st).URL)
	if _, err := c.VerifyToken(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 2 || times[1].Sub(times[0]) < 900*time.Millisecond {
		t.Errorf("attempt times = %v, want 2 at least 1 s apart", times)
	}
}

// TestRetryStopsAtDeadline: a wait that would outlive the caller's deadline
// is not started; the real error comes back at once.
func TestRetryStopsAtDeadline(t *testing.T) {
	st := &stub{status: 503, body: `{"message":"busy","code":"RATE_LIMIT_UNAVAILABLE"}`, header: http.Header{"Retry-After": {"5"}}}
	c := newTestClient(t, serve(t, st).URL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.VerifyToken(ctx, "t")
	if StatusCode(err) != 503 || time.Since(start) > 500*time.Millisecond || st.count() != 1 {
		t.Errorf("err %v after %v and %d requests; want the 503 at once", err, time.Since(start), st.count())
	}
}

// TestContextTimeout: the caller's deadline ends a hanging call, the error
// wraps context.DeadlineExceeded, and nothing is retried after it.
func TestContextTimeout(t *testing.T) {
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := &stub{response: func(w http.ResponseWriter, r *http.Request, n int) { <-r.Context().Done() }}
			c := newTestClient(t, serve(t, st).URL)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := call(c, ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want DeadlineExceeded", err)
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			if n := st.count(); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
			if !IsRetryable(err) {
				t.Errorf("IsRetryable(deadline) = false, want true")
			}
		})
	}
}

// TestAttemptTimeoutRetriesReads: a hung first attempt of a read is cut by
// the per-attempt timeout and retried.
func TestAttemptTimeoutRetriesReads(t *testing.T) {
	st := &stub{response: func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, `{"valid":true,"grantId":"grnt_1"}`)
	}}
	c := newTestClient(t, serve(t, st).URL, WithAttemptTimeout(300*time.Millisecond))
	v, err := c.VerifyToken(context.Background(), "t")
	if err != nil || !v.Valid || st.count() != 2 {
		t.Fatalf("VerifyToken = %+v, %v after %d requests", v, err, st.count())
	}
}

func TestResponseTooLarge(t *testing.T) {
	big := `{"valid":true,"grantId":"` + strings.Repeat("x", 2<<20) + `"}`
	t.Run("success body", func(t *testing.T) {
		st := &stub{status: 200, body: big}
		c := newTestClient(t, serve(t, st).URL)
		_, err := c.VerifyToken(context.Background(), "t")
		if !errors.Is(err, ErrResponseTooLarge) {
			t.Fatalf("err = %v, want ErrResponseTooLarge", err)
		}
		if st.count() != 1 || IsRetryable(err) {
			t.Errorf("requests = %d, retryable %v; want 1, false", st.count(), IsRetryable(err))
		}
	})
	t.Run("custom limit", func(t *testing.T) {
		st := &stub{status: 200, body: `{"valid":true,"grantId":"grnt_0123456789"}`}
		c := newTestClient(t, serve(t, st).URL, WithMaxResponseBytes(16))
		if _, err := c.VerifyToken(context.Background(), "t"); !errors.Is(err, ErrResponseTooLarge) {
			t.Fatalf("err = %v, want ErrResponseTooLarge", err)
		}
	})
	t.Run("error body", func(t *testing.T) {
		st := &stub{status: 400, body: `{"code":"BAD_REQUEST","message":"` + strings.Repeat("x", 2<<20) + `"}`}
		c := newTestClient(t, serve(t, st).URL)
		_, err := c.VerifyToken(context.Background(), "t")
		if e, ok := errors.AsType[*APIError](err); !ok || e.StatusCode != 400 || e.Message != "Bad Request" {
			t.Fatalf("err = %v, want generic 400 APIError", err)
		}
	})
}

func TestMalformedSuccessBody(t *testing.T) {
	st := &stub{status: 201, body: `<html>hello</html>`}
	c := newTestClient(t, serve(t, st).URL)
	_, err := c.ExchangeCode(context.Background(), "c", "")
	if err == nil || !strings.Contains(err.Error(), "decode") || st.count() != 1 {
		t.Fatalf("err = %v after %d requests, want one decode error", err, st.count())
	}
}

// TestRevokeNotFound: 404 NOT_FOUND means already revoked (contract §1.7);
// a 404 that is not Grantex's (a wrong base URL's HTML page) stays an error.
func TestRevokeNotFound(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr bool
	}{
		{"grantex not found", `{"message":"Token not found or already revoked","code":"NOT_FOUND","requestId":"r"}`, false},
		{"html 404", `<h1>404 page not found</h1>`, true},
		{"fastify route 404", `{"statusCode":404,"error":"Not Found","message":"Route POST:/v1/tokens/revoke not found"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &stub{status: 404, body: tt.body}
			c := newTestClient(t, serve(t, st).URL)
			for _, err := range []error{c.RevokeToken(context.Background(), "tok_1"), c.RevokeGrant(context.Background(), "grnt_1")} {
				if (err != nil) != tt.wantErr {
					t.Errorf("err = %v, wantErr %v", err, tt.wantErr)
				}
				if tt.wantErr && !IsNotFound(err) {
					t.Errorf("IsNotFound(%v) = false", err)
				}
			}
		})
	}
}

func TestRevokeGrantEscapesID(t *testing.T) {
	st := &stub{status: 204}
	c := newTestClient(t, serve(t, st).URL)
	if err := c.RevokeGrant(context.Background(), "grnt_1/../../v1/agents?x=1#f"); err != nil {
		t.Fatal(err)
	}
	r := st.last()
	if want := "/v1/grants/grnt_1%2F..%2F..%2Fv1%2Fagents%3Fx=1%23f"; r.rawPath != want {
		t.Errorf("path = %q, want %q", r.rawPath, want)
	}
}

func TestEmptyArgumentsSendNothing(t *testing.T) {
	st := &stub{status: 500}
	c := newTestClient(t, serve(t, st).URL)
	ctx := context.Background()
	_, e1 := c.ExchangeCode(ctx, "", "v")
	_, e2 := c.RefreshToken(ctx, "")
	_, e3 := c.VerifyToken(ctx, "")
	e4 := c.RevokeToken(ctx, "")
	e5 := c.RevokeGrant(ctx, "")
	for i, err := range []error{e1, e2, e3, e4, e5} {
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("call %d: err = %v, want ErrInvalidArgument", i, err)
		}
	}
	if st.count() != 0 {
		t.Errorf("requests = %d, want 0", st.count())
	}
}

// TestConcurrentUse runs calls in parallel; with -race it proves the client
// shares no mutable state between calls.
func TestConcurrentUse(t *testing.T) {
	st := &stub{response: func(w http.ResponseWriter, r *http.Request, n int) {
		if n%5 == 0 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
			return
		}
		_, _ = io.WriteString(w, `{"valid":true}`)
	}}
	c := newTestClient(t, serve(t, st).URL, WithMaxAttempts(10))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := c.VerifyToken(context.Background(), "t"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestParseError(t *testing.T) {
	e := parseError(400, http.Header{"X-Request-Id": {"hdr"}}, []byte(`{"message":"`+strings.Repeat("é", 1000)+`"}`), time.Now())
	if len(e.Message) > maxMessageBytes || !strings.HasPrefix(e.Message, "é") || e.RequestID != "hdr" {
		t.Errorf("APIError = %d-byte message, requestId %q", len(e.Message), e.RequestID)
	}
	e = parseError(409, nil, []byte(`{"requestId":"outer","error":{"code":"CONFLICT","message":"dup","requestId":"inner"}}`), time.Now())
	if e.Code != "CONFLICT" || e.Message != "dup" || e.RequestID != "inner" {
		t.Errorf("nested = %+v", e)
	}
	e = parseError(599, nil, nil, time.Now())
	if e.Message != "unexpected response" {
		t.Errorf("unknown status message = %q", e.Message)
	}
}

func FuzzParseError(f *testing.F) {
	f.Add(400, `{"message":"Invalid code","code":"BAD_REQUEST","requestId":"r"}`, "")
	f.Add(409, `{"error":{"code":"CONFLICT","message":"dup"}}`, "3")
	f.Add(429, `{"statusCode":429,"error":"Too Many Requests"}`, "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(502, `<html>`, "-1")
	f.Add(500, `{"error":null,"message":["x"]}`, "99999999999999999999999")
	f.Fuzz(func(t *testing.T, status int, body, retryAfter string) {
		e := parseError(status, http.Header{"Retry-After": {retryAfter}}, []byte(body), time.Now())
		if e.StatusCode != status {
			t.Fatalf("status %d, want %d", e.StatusCode, status)
		}
		if e.Message == "" || len(e.Message) > maxMessageBytes || len(e.Code) > 128 || len(e.RequestID) > 128 {
			t.Fatalf("bad APIError %+v", e)
		}
		if e.RetryAfter < 0 || e.RetryAfter > 24*time.Hour {
			t.Fatalf("RetryAfter %v", e.RetryAfter)
		}
		_ = e.Error()
	})
}
