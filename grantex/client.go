// Package grantex is a client for the Grantex REST API as an MCP
// authorization server in managed mode uses it: authorize, code exchange,
// refresh rotation, online verification and revocation.
//
// Unlike the official SDKs it never re-sends a single-use
// request (POST /v1/token, POST /v1/token/refresh) once that request may have
// reached the server, it is safe for concurrent use, escapes path segments,
// parses both error envelopes and bounds response sizes.
//
// Package grantextest provides an in-process fake of the service.
package grantex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of the client's options. The official SDK's are 4 attempts, a 30 s
// overall timeout and a 10 s Retry-After cap.
const (
	DefaultMaxAttempts      = 3
	DefaultAttemptTimeout   = 10 * time.Second
	DefaultMaxResponseBytes = 1 << 20
	DefaultMaxRetryWait     = 10 * time.Second
	DefaultUserAgent        = "mcpauth-grantex-go/1"

	defaultBaseDelay = 250 * time.Millisecond
	defaultMaxDelay  = 5 * time.Second
)

// Client calls the Grantex REST API. It is immutable after
// [New] and safe for concurrent use; it keeps no per-call state such as the
// official SDK's racy LastRateLimit.
type Client struct {
	baseURL, apiKey, agentID, jwksURL, userAgent string

	hc             *http.Client
	maxAttempts    int
	attemptTimeout time.Duration
	baseDelay      time.Duration
	maxDelay       time.Duration
	maxRetryWait   time.Duration
	maxBody        int64
	log            *slog.Logger
	now            func() time.Time
}

// Option configures a [Client] in [New] (the official SDKs have the same options).
type Option func(*Client) error

// WithHTTPClient sets the HTTP client (the SDK's WithHTTPClient). Default: a client with
// http.DefaultTransport and no overall timeout (timeouts come from the
// context and [WithAttemptTimeout]).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("grantex: nil http.Client")
		}
		c.hc = hc
		return nil
	}
}

// WithMaxAttempts sets how many times a call may be sent in total (≥1;
// default [DefaultMaxAttempts]). 1 disables retries. Whether a given failure
// is retried at all depends on the call; see [Client].
func WithMaxAttempts(n int) Option {
	return func(c *Client) error {
		if n < 1 {
			return fmt.Errorf("grantex: max attempts %d < 1", n)
		}
		c.maxAttempts = n
		return nil
	}
}

// WithAttemptTimeout bounds each attempt, on top of the caller's context
// (default [DefaultAttemptTimeout]; 0 disables it). A timed-out single-use
// call is not retried: the request may have been processed.
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return fmt.Errorf("grantex: negative attempt timeout %v", d)
		}
		c.attemptTimeout = d
		return nil
	}
}

// WithBackoff sets the retry delay: base·2^(attempt-1) with jitter, capped at
// max. Defaults 250 ms and 5 s (the SDK uses 500 ms and 10 s).
func WithBackoff(base, max time.Duration) Option {
	return func(c *Client) error {
		if base <= 0 || max < base {
			return fmt.Errorf("grantex: invalid backoff %v..%v", base, max)
		}
		c.baseDelay, c.maxDelay = base, max
		return nil
	}
}

// WithMaxRetryWait caps how long the client will wait on a Retry-After
// header (default [DefaultMaxRetryWait]). A longer Retry-After is not waited
// out: the 429/503 is returned at once, since resending earlier than the
// server asked would only be refused again.
func WithMaxRetryWait(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return fmt.Errorf("grantex: negative max retry wait %v", d)
		}
		c.maxRetryWait = d
		return nil
	}
}

// WithJWKSURL overrides where Grantex publishes its signing keys. Default
// baseURL + "/.well-known/jwks.json". The hosted service's JWKS host differs
// from its token issuer, so keep the two settings apart.
func WithJWKSURL(u string) Option {
	return func(c *Client) error {
		if err := checkHTTPURL(u); err != nil {
			return fmt.Errorf("grantex: JWKS URL: %w", err)
		}
		c.jwksURL = u
		return nil
	}
}

// WithLogger sets the logger for retries and for single-use calls whose
// outcome is unknown. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) error {
		if l == nil {
			return errors.New("grantex: nil logger")
		}
		c.log = l
		return nil
	}
}

// WithUserAgent sets the User-Agent header (default [DefaultUserAgent]; the
// SDK sends grantex-go/<version>).
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		if ua == "" || strings.ContainsAny(ua, "\r\n") {
			return errors.New("grantex: invalid user agent")
		}
		c.userAgent = ua
		return nil
	}
}

// WithMaxResponseBytes bounds response bodies (Grantex answers are small; default
// [DefaultMaxResponseBytes]). A larger success body fails with
// [ErrResponseTooLarge]; a larger error body yields a generic *APIError.
func WithMaxResponseBytes(n int64) Option {
	return func(c *Client) error {
		if n < 1 {
			return fmt.Errorf("grantex: max response bytes %d < 1", n)
		}
		c.maxBody = n
		return nil
	}
}

// withClock sets the clock used for HTTP-date Retry-After values (tests).
func withClock(now func() time.Time) Option {
	return func(c *Client) error { c.now = now; return nil }
}

// New returns a client for the Grantex service at baseURL (e.g.
// "https://api.grantex.dev"; a path prefix is kept) authenticating with the
// developer API key as agent agentID.
func New(baseURL, apiKey, agentID string, opts ...Option) (*Client, error) {
	baseURL = strings.TrimRight(baseURL, "/")
	if err := checkHTTPURL(baseURL); err != nil {
		return nil, fmt.Errorf("grantex: base URL: %w", err)
	}
	// The key goes into a header: refuse anything that could split it, and
	// keys that fail the service's own Bearer regex.
	if apiKey == "" || strings.IndexFunc(apiKey, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return nil, errors.New("grantex: API key is empty or contains whitespace or control characters")
	}
	if agentID == "" {
		return nil, errors.New("grantex: agent id is required")
	}
	c := &Client{
		baseURL:        baseURL,
		apiKey:         apiKey,
		agentID:        agentID,
		jwksURL:        baseURL + "/.well-known/jwks.json",
		userAgent:      DefaultUserAgent,
		hc:             &http.Client{},
		maxAttempts:    DefaultMaxAttempts,
		attemptTimeout: DefaultAttemptTimeout,
		baseDelay:      defaultBaseDelay,
		maxDelay:       defaultMaxDelay,
		maxRetryWait:   DefaultMaxRetryWait,
		maxBody:        DefaultMaxResponseBytes,
		log:            slog.New(slog.DiscardHandler),
		now:            time.Now,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: scheme must be http or https", raw)
	case u.Host == "":
		return fmt.Errorf("%q: no host", raw)
	case u.User != nil, u.RawQuery != "", u.Fragment != "", u.Opaque != "":
		return fmt.Errorf("%q: userinfo, query and fragment are not allowed", raw)
	}
	return nil
}

// BaseURL returns the Grantex base URL, without a trailing slash.
func (c *Client) BaseURL() string { return c.baseURL }

// JWKSURL returns the URL of Grantex's JWKS.
func (c *Client) JWKSURL() string { return c.jwksURL }

// AgentID returns the agent id the client sends as agentId.
func (c *Client) AgentID() string { return c.agentID }

// Authorize creates an authorization request: POST /v1/authorize → 201.
// An empty p.AgentID is filled with the client's agent.
//
// Retried on 429, 502, 503 and 504 and on dial failures only. A duplicate
// auth request is harmless (it expires unused), but each one spends the
// developer's 10/min authorize budget, so a timed-out attempt is not resent.
func (c *Client) Authorize(ctx context.Context, p AuthorizeParams) (*AuthRequest, error) {
	if p.AgentID == "" {
		p.AgentID = c.agentID
	}
	var out AuthRequest
	if err := c.call(ctx, "Authorize", http.MethodPost, "/v1/authorize", retryCreate, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ExchangeCode redeems an authorization code: POST /v1/token {code, agentId,
// codeVerifier} → 201. The code is single use, so the
// request is never re-sent once it may have reached Grantex; see
// [Client.RefreshToken] for what is retried. An empty codeVerifier is omitted.
func (c *Client) ExchangeCode(ctx context.Context, code, codeVerifier string) (*Token, error) {
	if code == "" {
		return nil, fmt.Errorf("%w: empty code", ErrInvalidArgument)
	}
	body := struct {
		Code         string `json:"code"`
		AgentID      string `json:"agentId"`
		CodeVerifier string `json:"codeVerifier,omitempty"`
	}{code, c.agentID, codeVerifier}
	var out Token
	if err := c.call(ctx, "ExchangeCode", http.MethodPost, "/v1/token", retrySingleUse, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RefreshToken rotates a refresh token: POST /v1/token/refresh
// {refreshToken, agentId} → 201. The old token is spent by
// the first request that reaches Grantex, so it is re-sent only when the
// previous attempt provably did not consume it:
//   - a dial failure: no byte was sent;
//   - 429: every Grantex limiter (per IP, per plan) rejects in a hook
//     that runs before the route handler, so nothing was redeemed;
//   - 503: "unable to handle the request" (RFC 9110 §15.6.4); Grantex sends
//     it only from the rate-limit hook (RATE_LIMIT_UNAVAILABLE), and proxies
//     send it when no upstream is available.
//
// 502 and 504 are not retried: a gateway sends them after the upstream may
// have committed the rotation, and a resend would only get 400 "Refresh token
// already used" while the new token is lost.
func (c *Client) RefreshToken(ctx context.Context, refreshToken string) (*Token, error) {
	if refreshToken == "" {
		return nil, fmt.Errorf("%w: empty refresh token", ErrInvalidArgument)
	}
	body := struct {
		RefreshToken string `json:"refreshToken"`
		AgentID      string `json:"agentId"`
	}{refreshToken, c.agentID}
	var out Token
	if err := c.call(ctx, "RefreshToken", http.MethodPost, "/v1/token/refresh", retrySingleUse, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// VerifyToken asks Grantex whether a grant token is valid: POST
// /v1/tokens/verify {token} → 200. An invalid token is not an
// error: it yields Valid false. Read-only, so every transient failure is retried.
func (c *Client) VerifyToken(ctx context.Context, token string) (*Verification, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: empty token", ErrInvalidArgument)
	}
	body := struct {
		Token string `json:"token"`
	}{token}
	var out Verification
	if err := c.call(ctx, "VerifyToken", http.MethodPost, "/v1/tokens/verify", retryIdempotent, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeToken revokes one token by jti: POST /v1/tokens/revoke {jti} → 204.
// A 404 NOT_FOUND ("Token not found or already revoked") is
// success, which also makes the call idempotent and so retried on every
// transient failure. It does not revoke the grant or its refresh token; use
// [Client.RevokeGrant] for that.
func (c *Client) RevokeToken(ctx context.Context, jti string) error {
	if jti == "" {
		return fmt.Errorf("%w: empty jti", ErrInvalidArgument)
	}
	body := struct {
		JTI string `json:"jti"`
	}{jti}
	err := c.call(ctx, "RevokeToken", http.MethodPost, "/v1/tokens/revoke", retryIdempotent, body, nil)
	return c.goneIsDone(err, "RevokeToken")
}

// RevokeGrant revokes a grant, its tokens, refresh tokens and delegated
// descendants: DELETE /v1/grants/:id → 204. A 404
// NOT_FOUND is success (already revoked). Idempotent, so retried on every
// transient failure.
func (c *Client) RevokeGrant(ctx context.Context, grantID string) error {
	if grantID == "" {
		// An empty id would DELETE /v1/grants/, whose 404 reads as success.
		return fmt.Errorf("%w: empty grant id", ErrInvalidArgument)
	}
	err := c.call(ctx, "RevokeGrant", http.MethodDelete, "/v1/grants/"+url.PathEscape(grantID), retryIdempotent, nil, nil)
	return c.goneIsDone(err, "RevokeGrant")
}

// goneIsDone maps Grantex's 404 NOT_FOUND to success. The code must be
// NOT_FOUND: a 404 HTML page from a wrong base URL must not pass as a
// successful revocation.
func (c *Client) goneIsDone(err error, op string) error {
	if e, ok := errors.AsType[*APIError](err); ok && e.StatusCode == http.StatusNotFound && e.Code == "NOT_FOUND" {
		c.log.Debug("grantex: already revoked", "op", op, "request_id", e.RequestID)
		return nil
	}
	return err
}

// retryPolicy says which failures of a call may be re-sent.
type retryPolicy int

const (
	// retryIdempotent: reads and revocations. Any transport failure, 429, 502, 503, 504.
	retryIdempotent retryPolicy = iota
	// retryCreate: authorize. Unsent requests, 429, 502, 503, 504.
	retryCreate
	// retrySingleUse: token exchange and refresh. Unsent requests, 429, 503.
	retrySingleUse
)

// call sends one API request with retries per policy and decodes a 2xx body
// into out (when non-nil).
func (c *Client) call(ctx context.Context, op, method, path string, policy retryPolicy, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("grantex: %s: encode request: %w", op, err)
		}
	}
	for attempt := 1; ; attempt++ {
		err := c.attempt(ctx, method, path, body, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		wait, retry := c.retryDelay(policy, err, attempt)
		if !retry {
			if policy == retrySingleUse && IsOutcomeUnknown(err) {
				// The code or refresh token may be spent and its token lost.
				c.log.Warn("grantex: single-use request failed after it may have been processed; not retrying",
					"op", op, "err", err)
			}
			return err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			// Waiting would outlive the caller: answer now with the real error.
			return err
		}
		c.log.Debug("grantex: retrying", "op", op, "attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// retryDelay decides whether err may be retried under policy after the
// given attempt, and after how long.
func (c *Client) retryDelay(policy retryPolicy, err error, attempt int) (time.Duration, bool) {
	if attempt >= c.maxAttempts {
		return 0, false
	}
	if e, ok := errors.AsType[*APIError](err); ok {
		switch e.StatusCode {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		case http.StatusBadGateway, http.StatusGatewayTimeout:
			if policy == retrySingleUse {
				return 0, false
			}
		default:
			return 0, false
		}
		if e.RetryAfter > 0 {
			if e.RetryAfter > c.maxRetryWait {
				return 0, false
			}
			return e.RetryAfter, true
		}
		return c.backoff(attempt), true
	}
	if ne, ok := errors.AsType[*NetworkError](err); ok {
		if ne.Unsent || policy == retryIdempotent {
			return c.backoff(attempt), true
		}
	}
	return 0, false
}

// backoff is base·2^(attempt-1), capped, with jitter in [d/2, d] so that
// clients failing together do not retry together.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.maxDelay
	if attempt < 30 {
		d = min(c.baseDelay<<(attempt-1), c.maxDelay)
	}
	return d/2 + rand.N(d/2+1)
}

// attempt sends the request once. Non-2xx answers become *APIError,
// transport failures *NetworkError.
func (c *Client) attempt(ctx context.Context, method, path string, body []byte, out any) error {
	op := method + " " + path
	if c.attemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.attemptTimeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, rd)
	if err != nil {
		return fmt.Errorf("grantex: %s: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &NetworkError{Op: op, Unsent: unsent(err), Err: err}
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
	}()
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A truncated or unreadable error body still yields an APIError.
		return parseError(resp.StatusCode, resp.Header, data, c.now())
	}
	if readErr != nil {
		return &NetworkError{Op: op, Err: readErr}
	}
	if int64(len(data)) > c.maxBody {
		return fmt.Errorf("%w: %s: more than %d bytes", ErrResponseTooLarge, op, c.maxBody)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("grantex: %s: decode %d response: %w", op, resp.StatusCode, err)
	}
	return nil
}

// unsent reports a failure that provably happened before any byte of the
// request left: the connection could not be dialled (refused, unreachable,
// DNS failure). Everything else — TLS, write, read, timeout after connecting
// — may have delivered the request.
func unsent(err error) bool {
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return true
	}
	_, ok := errors.AsType[*net.DNSError](err)
	return ok
}
