// Package grantextest is an in-process fake of the Grantex service: the REST
// API of Grantex (authorize, consent, token, refresh, verify,
// revoke, grants, delegation, JWKS, health) with RS256 grant tokens shaped as
// in §2.1, for tests, examples and users' own tests.
//
// It keeps all state in memory behind one mutex. Test hooks count requests
// per path ([Server.Requests]) and inject failures ([Server.Inject],
// [Server.FailNext], [Server.HangNext]) so callers can prove that single-use
// requests are never replayed and simulate Grantex being down or rate
// limiting mid-flow.
package grantextest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/mcpauth/mcpauth/grantex"
)

// Defaults used when [Options] leaves APIKeys or Agents empty. Keys follow
// the 16–512 character rule
const (
	// DefaultAPIKey authenticates as DefaultDeveloperID, a live developer.
	DefaultAPIKey      = "gx_test_grantextest_live_key_0001"
	DefaultDeveloperID = "dev_grantextest"
	// SandboxAPIKey authenticates as SandboxDeveloperID, a sandbox developer
	// whose authorize calls are approved at once.
	SandboxAPIKey      = "gx_test_grantextest_sandbox_key_1"
	SandboxDeveloperID = "dev_grantextest_sandbox"
	// DefaultAgentID is an active agent every developer may use.
	DefaultAgentID   = "ag_grantextest"
	DefaultAgentName = "Test Agent"
)

// Developer modes.
const (
	ModeLive    = "live"
	ModeSandbox = "sandbox"
)

// Policy effects returned by [Options.Policy].
const (
	PolicyAllow = "allow"
	PolicyDeny  = "deny"
)

// Developer is the account behind an API key.
type Developer struct {
	// ID is the dev claim of the developer's tokens.
	ID string
	// Mode is ModeLive (default) or ModeSandbox.
	Mode string
}

// Agent is a registered agent; its DID is did:grantex:<id>.
type Agent struct {
	Name        string
	Description string
	// DeveloperID owns the agent; empty means every developer may use it.
	// Other developers get 404 "Agent not found", as from the real service.
	DeveloperID string
}

// Options configure a [Server]. The zero value is a live and a sandbox
// developer sharing one agent; see the Default constants.
type Options struct {
	// APIKeys maps Bearer API keys (16–512 characters) to developers.
	// Default: DefaultAPIKey (live) and SandboxAPIKey (sandbox).
	APIKeys map[string]Developer
	// Agents maps agent ids to agents. Default: DefaultAgentID.
	Agents map[string]Agent

	// Issuer is the iss of issued tokens. The hosted service's issuer is not
	// its API host, so tests of issuer checks should set it.
	// Default: PublicURL.
	Issuer string
	// PublicURL is the base of consent URLs, for when Handler is mounted
	// elsewhere. Default: the httptest server's URL.
	PublicURL string
	// Now is the clock. Default time.Now.
	Now func() time.Time

	// AuthorizeRateLimit is the POST /v1/authorize budget per developer per
	// 60 s window. 0 means the real 10; negative means unlimited.
	AuthorizeRateLimit int
	// PlanRateLimit is the per-developer budget of all authenticated routes
	// per 60 s (free plan: 100). 0 disables it and its X-RateLimit headers.
	PlanRateLimit int
	// MaxActiveGrants makes authorize and token answer 402
	// PLAN_LIMIT_EXCEEDED once a developer has that many active grants.
	// 0 means unlimited.
	MaxActiveGrants int
	// MaxDelegationDepth is MAX_DELEGATION_DEPTH. Default 3.
	MaxDelegationDepth int
	// Production applies NODE_ENV=production redirect rules: https only, no
	// loopback, private or link-local host (literal IPs and localhost; no
	// DNS lookup).
	Production bool
	// Policy, when set, is consulted on authorize: PolicyDeny gives 403
	// POLICY_DENIED, PolicyAllow approves at once.
	Policy func(developerID string, p grantex.AuthorizeParams) string
	// ScopeDescriptions are the consent page's human-readable scopes;
	// unknown scopes are shown raw.
	ScopeDescriptions map[string]string

	// Key signs grant tokens (RS256). Default: a fresh 2048-bit key. Share
	// one across tests to save the generation time.
	Key *rsa.PrivateKey
	// KeyID is the JWKS kid. Default "grantex-YYYY-MM" at start.
	KeyID string
	// OmitEd25519Key drops the EdDSA key the real JWKS always publishes
	// next to the RSA one. Keep it to test verifiers ignore it.
	OmitEd25519Key bool
	// TLS serves https (use Server.Client for a trusting client).
	TLS bool
	// Logger receives one debug line per error answer. Default: discard.
	Logger *slog.Logger
}

// Fault is an injected failure; see [Server.Inject]. Its defaults mimic the
// real error handler.
type Fault struct {
	// Status is the answer's status (default 500) with a Grantex error body
	// {message, code, requestId}, unless Body is set.
	Status int
	// Code and Message override the body's defaults for Status.
	Code, Message string
	// Body, when set, is sent raw as text/html instead (a proxy's error page).
	Body string
	// RetryAfter sets the Retry-After header, in whole seconds.
	RetryAfter time.Duration
	// Hang blocks until the client gives up or the server closes; no answer.
	Hang bool
	// Drop closes the connection without an answer.
	Drop bool
	// AfterProcessing runs the real handler first, committing its effects,
	// and then fails: the "response lost after the server committed" case
	//
	AfterProcessing bool
}

type faultRule struct {
	path string
	left int
	f    Fault
}

// Server is a running fake Grantex serving the routes Its
// methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:1234.
	URL string

	ts        *httptest.Server
	mux       *http.ServeMux
	opts      Options
	issuer    string
	publicURL string
	now       func() time.Time
	log       *slog.Logger
	key       *rsa.PrivateKey
	kid       string
	edPub     ed25519.PublicKey
	edKid     string
	signer    jose.Signer
	closed    chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	requests map[string]int
	faults   []*faultRule
	authReqs map[string]*authRequest
	codes    map[string]string // code → auth request id
	grants   map[string]*grant
	tokens   map[string]*tokenRecord
	refresh  map[string]*refreshRecord
	windows  map[string]*window
	budgets  map[string]*budget // by grant id (budget.go)
}

// NewServer starts a fake Grantex on a loopback port. Close it
// when done.
// It panics on invalid Options, as httptest.NewServer does on failure.
func NewServer(opts Options) *Server {
	s := &Server{
		closed:   make(chan struct{}),
		requests: map[string]int{},
		authReqs: map[string]*authRequest{},
		codes:    map[string]string{},
		grants:   map[string]*grant{},
		tokens:   map[string]*tokenRecord{},
		refresh:  map[string]*refreshRecord{},
		windows:  map[string]*window{},
	}
	if opts.APIKeys == nil {
		opts.APIKeys = map[string]Developer{
			DefaultAPIKey: {ID: DefaultDeveloperID, Mode: ModeLive},
			SandboxAPIKey: {ID: SandboxDeveloperID, Mode: ModeSandbox},
		}
	}
	for k, d := range opts.APIKeys {
		if len(k) < 16 || len(k) > 512 || strings.ContainsAny(k, " \t\r\n") {
			panic(fmt.Sprintf("grantextest: API key %q: Grantex keys are 16–512 characters without spaces", k))
		}
		if d.ID == "" || (d.Mode != "" && d.Mode != ModeLive && d.Mode != ModeSandbox) {
			panic(fmt.Sprintf("grantextest: API key %q: developer needs an ID and mode live or sandbox", k))
		}
	}
	if opts.Agents == nil {
		opts.Agents = map[string]Agent{DefaultAgentID: {Name: DefaultAgentName}}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AuthorizeRateLimit == 0 {
		opts.AuthorizeRateLimit = 10
	}
	if opts.MaxDelegationDepth == 0 {
		opts.MaxDelegationDepth = 3
	}
	s.now = opts.Now
	s.log = opts.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}

	s.key = opts.Key
	if s.key == nil {
		var err error
		if s.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic("grantextest: " + err.Error())
		}
	}
	s.kid = opts.KeyID
	if s.kid == "" {
		s.kid = "grantex-" + s.now().UTC().Format("2006-01")
	}
	if !opts.OmitEd25519Key {
		s.edPub, _, _ = ed25519.GenerateKey(rand.Reader)
		s.edKid = "grantex-ed25519-" + s.now().UTC().Format("2006-01")
	}
	// No typ header: the real signer sets only alg and kid.
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.RS256,
		Key:       jose.JSONWebKey{Key: s.key, KeyID: s.kid, Algorithm: string(jose.RS256)},
	}, nil)
	if err != nil {
		panic("grantextest: " + err.Error())
	}
	s.signer = signer
	s.routes()

	s.ts = httptest.NewUnstartedServer(s)
	// The URL is known from the listener before serving, so every field the
	// handlers read is set before the first request can arrive.
	scheme := "http://"
	if opts.TLS {
		scheme = "https://"
	}
	s.URL = scheme + s.ts.Listener.Addr().String()
	s.publicURL = strings.TrimRight(opts.PublicURL, "/")
	if s.publicURL == "" {
		s.publicURL = s.URL
	}
	s.issuer = opts.Issuer
	if s.issuer == "" {
		s.issuer = s.publicURL
	}
	s.opts = opts
	if opts.TLS {
		s.ts.StartTLS()
	} else {
		s.ts.Start()
	}
	return s
}

// Close releases hanging requests (see [Fault].Hang) and shuts the server down.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.ts.Close()
}

// Handler returns the fake as an http.Handler, to mount elsewhere (set
// Options.PublicURL and Issuer to match). Hooks and state are shared with s.
func (s *Server) Handler() http.Handler { return s }

// Client returns an HTTP client that trusts the server (needed with TLS;
// production Grantex is https only).
func (s *Server) Client() *http.Client { return s.ts.Client() }

// NewClient returns a grantex.Client for this server using s.Client(), with
// apiKey as the Bearer key and agentID as agentId.
func (s *Server) NewClient(apiKey, agentID string, opts ...grantex.Option) (*grantex.Client, error) {
	return grantex.New(s.URL, apiKey, agentID, append([]grantex.Option{grantex.WithHTTPClient(s.Client())}, opts...)...)
}

// Issuer returns the iss of the tokens the server signs.
func (s *Server) Issuer() string { return s.issuer }

// PublicKey returns the RS256 verification key published in the JWKS.
func (s *Server) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// KeyID returns the kid of the RS256 key, grantex-YYYY-MM by default.
func (s *Server) KeyID() string { return s.kid }

// Requests returns how many requests arrived for the exact URL path (any
// method, injected failures included): the proof that single-use calls
// were sent once.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// Inject makes the next n requests for path fail as f describes (e.g. the
// lost response). A path
// ending in "/" matches every path under it ("/" matches all: Grantex
// down). Rules are consumed in the order they were added.
func (s *Server) Inject(path string, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultRule{path: path, left: n, f: f})
}

// FailNext makes the next request for path answer status with a Grantex
// error body.
func (s *Server) FailNext(path string, status int) { s.Inject(path, 1, Fault{Status: status}) }

// HangNext makes the next request for path hang until the client gives up
// (Grantex unreachable mid-flow).
func (s *Server) HangNext(path string) { s.Inject(path, 1, Fault{Hang: true}) }

// ServeHTTP counts the request, applies an injected fault if one matches,
// and otherwise serves the API
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := s.arrive(r.URL.Path)
	if !ok {
		s.serve(w, r)
		return
	}
	if f.AfterProcessing {
		s.serve(httptest.NewRecorder(), r)
	}
	switch {
	case f.Hang:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		panic(http.ErrAbortHandler)
	case f.Drop:
		// Aborts without an answer: net/http closes the connection.
		panic(http.ErrAbortHandler)
	}
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
	}
	if f.Body != "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	code, msg := defaultError(status)
	s.writeError(w, status, cmpOr(f.Code, code), cmpOr(f.Message, msg))
}

// arrive counts a request and takes the first matching fault.
func (s *Server) arrive(path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[path]++
	for i, fr := range s.faults {
		if fr.path == path || (strings.HasSuffix(fr.path, "/") && strings.HasPrefix(path, fr.path)) {
			fr.left--
			if fr.left <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return fr.f, true
		}
	}
	return Fault{}, false
}

// defaultError is what the real error handler sends for a bare status.
func defaultError(status int) (code, msg string) {
	switch {
	case status == http.StatusTooManyRequests:
		return "RATE_LIMIT_EXCEEDED", "Rate limit exceeded, retry in 60 seconds"
	case status == http.StatusUnauthorized:
		return "UNAUTHORIZED", "Invalid API key"
	case status == http.StatusNotFound:
		return "NOT_FOUND", "Not found"
	case status >= 500:
		return "INTERNAL_ERROR", "An unexpected error occurred"
	default:
		return "BAD_REQUEST", http.StatusText(status)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /v1/authorize", s.authed(s.handleAuthorize))
	m.HandleFunc("POST /v1/authorize/{id}/approve", s.authed(s.handleSandboxDecision(true)))
	m.HandleFunc("POST /v1/authorize/{id}/deny", s.authed(s.handleSandboxDecision(false)))
	m.HandleFunc("POST /v1/token", s.authed(s.handleToken))
	m.HandleFunc("POST /v1/token/refresh", s.authed(s.handleRefresh))
	m.HandleFunc("POST /v1/tokens/verify", s.authed(s.handleVerify))
	m.HandleFunc("POST /v1/tokens/revoke", s.authed(s.handleRevoke))
	m.HandleFunc("POST /v1/grants/delegate", s.authed(s.handleDelegate))
	m.HandleFunc("GET /v1/grants/{id}", s.authed(s.handleGetGrant))
	m.HandleFunc("DELETE /v1/grants/{id}", s.authed(s.handleDeleteGrant))
	m.HandleFunc("POST /v1/budget/allocate", s.authed(s.handleBudgetAllocate))
	m.HandleFunc("POST /v1/budget/debit", s.authed(s.handleBudgetDebit))
	m.HandleFunc("GET /v1/budget/balance/{grantId}", s.authed(s.handleBudgetBalance))
	// Consent routes are public (skipAuth).
	m.HandleFunc("GET /v1/consent/{id}", s.handleConsentInfo)
	m.HandleFunc("POST /v1/consent/{id}/approve", s.handleConsentAPI(true))
	m.HandleFunc("POST /v1/consent/{id}/deny", s.handleConsentAPI(false))
	m.HandleFunc("GET /consent", s.handleConsentPage)
	m.HandleFunc("POST /consent/approve", s.handleConsentForm(true))
	m.HandleFunc("POST /consent/deny", s.handleConsentForm(false))
	m.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)
	m.HandleFunc("GET /health", s.handleHealth)
	s.mux = m
}

// serve answers with the real service's headers and routes. Unknown
// routes and methods are 404, as in Fastify (there is no 405).
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Strict-Transport-Security", "max-age=15552000; includeSubDomains")
	h.Set("Content-Security-Policy", "default-src 'none'")
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("Route %s:%s not found", r.Method, r.URL.Path))
		return
	}
	s.mux.ServeHTTP(w, r)
}

type authedHandler func(w http.ResponseWriter, r *http.Request, dev Developer)

// authed checks the Bearer API key and the optional plan rate limit.
func (s *Server) authed(next authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			s.writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Missing or invalid Authorization header")
			return
		}
		dev, ok := s.opts.APIKeys[key]
		if !ok || len(key) < 16 || len(key) > 512 {
			s.writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Invalid API key")
			return
		}
		if dev.Mode == "" {
			dev.Mode = ModeLive
		}
		if limit := s.opts.PlanRateLimit; limit > 0 {
			if !s.limit(w, "plan|"+dev.ID, limit, "RATE_LIMIT_EXCEEDED", "Plan rate limit exceeded") {
				return
			}
		}
		next(w, r, dev)
	}
}

// bearer implements the header regex /^Bearer[ \t]+([^\s]+)$/i.
func bearer(h string) (string, bool) {
	if len(h) < 7 || !strings.EqualFold(h[:6], "bearer") || (h[6] != ' ' && h[6] != '\t') {
		return "", false
	}
	key := strings.TrimLeft(h[6:], " \t")
	if key == "" || strings.ContainsAny(key, " \t\r\n\v\f") {
		return "", false
	}
	return key, true
}

type window struct {
	start time.Time
	count int
}

// limit counts a hit in a fixed 60 s window and sets X-RateLimit-Limit,
// -Remaining and -Reset (seconds until the window ends, not an epoch).
// Over the limit it answers 429 with Retry-After and returns false.
func (s *Server) limit(w http.ResponseWriter, key string, limit int, code, msg string) bool {
	now := s.now()
	s.mu.Lock()
	win := s.windows[key]
	if win == nil || now.Sub(win.start) >= time.Minute || now.Before(win.start) {
		win = &window{start: now}
		s.windows[key] = win
	}
	win.count++
	count := win.count
	reset := max(1, int(math.Ceil(win.start.Add(time.Minute).Sub(now).Seconds())))
	s.mu.Unlock()

	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, limit-count)))
	h.Set("X-RateLimit-Reset", strconv.Itoa(reset))
	if count <= limit {
		return true
	}
	h.Set("Retry-After", strconv.Itoa(reset))
	s.writeError(w, http.StatusTooManyRequests, code, fmt.Sprintf("%s, retry in %d seconds", msg, reset))
	return false
}

// errorBody is the error JSON
type errorBody struct {
	Message   string `json:"message"`
	Code      string `json:"code"`
	RequestID string `json:"requestId"`
}

func (s *Server) writeError(w http.ResponseWriter, status int, code, msg string) {
	id := uuid.NewString()
	s.log.Debug("grantextest: error", "status", status, "code", code, "message", msg, "request_id", id)
	writeJSON(w, status, errorBody{Message: msg, Code: code, RequestID: id})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
