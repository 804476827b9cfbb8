package mcpauth

// This file implements the Server: construction, routing, and the error
// styles of its routes (RFC 6749 §5.2 JSON, our pages, or redirects to the
// client, RFC 6749 §4.1.2.1).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpauth/mcpauth/internal/browser"
	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/ratelimit"
	"github.com/mcpauth/mcpauth/internal/secret"
	"github.com/mcpauth/mcpauth/internal/signing"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/store"
	"go.opentelemetry.io/otel/trace"
)

// Server is the authorization server: an http.Handler serving every endpoint
// at its path below the issuer (issuer https://example.com/auth serves
// /auth/token, /auth/authorize, …, and the RFC 8414 metadata at both
// /.well-known/oauth-authorization-server/auth and /auth/.well-known/…).
// Mount it on a ServeMux without StripPrefix. Create it with NewServer and
// stop its background work with Close.
type Server struct {
	cfg      Config
	issuer   *url.URL
	basePath string // issuer path, "" for a bare origin

	clients   *timedClients
	grants    store.GrantStore
	keys      *signing.Manager
	authority authority
	limiter   *ratelimit.Limiter
	// Built-in login page: password-check slots, per-account back-off (nil
	// when disabled) and the number of checks run (tests).
	pwSlots   chan struct{}
	pwWaiting atomic.Int64
	pwChecks  atomic.Int64
	pwBackoff *ratelimit.Backoff
	pwDummy   *browser.Hash // checked for unknown names
	log       *slog.Logger
	now       func() time.Time
	metrics   *serverMetrics // metrics.go
	tracer    trace.Tracer   // tracing.go

	scopes    map[string]bool
	resources map[string]bool
	users     map[string]PasswordUser
	static    map[string]*store.Client

	mux    *http.ServeMux
	events eventBus
	feed   feedHub // revocationfeed.go
	// verified caches the signature and claim checks of our own tokens for
	// /introspect and VerifyAccessToken (the Verifier's cache type); the
	// revocation check still runs on every call.
	verified *tokenCache

	extMu      sync.Mutex
	extensions map[string]string // grantex_extensions name → path below the issuer

	cimd cimdClients // Client ID Metadata Documents (cimd.go); zero value ready

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// NewServer validates cfg and returns a ready Server. A bad Config gives a
// *ConfigError naming the field.
func NewServer(cfg Config) (*Server, error) {
	// normalize fills defaults in place (static clients' secrets become
	// digests): work on a copy so the caller's Config can be used again.
	cfg = cfg.clone()
	// Stores the server makes itself live in memory and never wait, so
	// their calls need no deadline (a timer per call is most of their cost).
	memClients, memGrants, memKeys := cfg.Clients == nil, cfg.Grants == nil, cfg.Keys == nil
	iss, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	metrics, tracer, budget, err := newObservers(&cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		issuer:    iss,
		basePath:  iss.EscapedPath(),
		clients:   &timedClients{s: cfg.Clients, d: budget.inMemory(memClients), idle: cfg.ClientIdleExpiry, now: cfg.Now, log: cfg.Logger},
		grants:    &timedGrants{s: cfg.Grants, d: budget.inMemory(memGrants), maxPending: cfg.MaxPendingAuthorizations, log: cfg.Logger},
		log:       cfg.Logger,
		now:       cfg.Now,
		scopes:    map[string]bool{},
		resources: map[string]bool{},
		users:     map[string]PasswordUser{},
		static:    map[string]*store.Client{},
		stop:      make(chan struct{}),
		metrics:   metrics,
		tracer:    tracer,
	}
	if cfg.VerifiedTokenCacheSize > 0 {
		s.verified = newTokenCache(cfg.VerifiedTokenCacheSize, defaultTokenCacheTTL)
	}
	for _, sc := range cfg.Scopes {
		s.scopes[sc] = true
	}
	for _, r := range cfg.Resources {
		s.resources[r] = true
	}
	for _, u := range cfg.Users {
		if u.Subject == "" {
			u.Subject = u.Username
		}
		s.users[u.Username] = u
	}
	for i := range cfg.StaticClients {
		s.static[cfg.StaticClients[i].ID] = &cfg.StaticClients[i]
	}
	s.keys = signing.New(signing.Options{
		Store:        &timedKeys{s: cfg.Keys, d: budget.inMemory(memKeys)},
		Alg:          cfg.SigningAlgorithm,
		RotateEvery:  cfg.KeyRotationPeriod,
		RefreshEvery: cfg.KeyRefreshInterval,
		TokenTTL:     cfg.AccessTokenTTL,
		SessionTTL:   sessionTTL,
		Now:          cfg.Now,
		Log:          cfg.Logger,
	})
	if cfg.RateLimits != nil && !cfg.RateLimits.Disabled {
		s.limiter = ratelimit.New(cfg.Now)
	}
	s.pwSlots = make(chan struct{}, cfg.PasswordCheckConcurrency)
	s.pwDummy = browser.DummyHash
	if len(cfg.Users) > 0 {
		s.pwDummy = browser.DummyFor(cfg.Users[0].PasswordHash)
	}
	if lb := cfg.LoginBackoff; !lb.Disabled {
		s.pwBackoff = ratelimit.NewBackoff(cfg.Now, lb.Free, lb.Base, lb.Max, maxBackoffAccounts)
	}
	if cfg.Grantex.Client != nil {
		s.authority, err = newGrantexAuthority(s)
		if err != nil {
			return nil, err
		}
	} else {
		s.authority = &localAuthority{s: s}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.keys.Current(ctx); err != nil {
		return nil, fmt.Errorf("mcpauth: %w", err)
	}
	s.routes()
	s.wg.Add(1)
	go s.sweep()
	s.startFeed()
	return s, nil
}

// Close stops the background sweeper. It does not close the stores.
func (s *Server) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.wg.Wait()
	return nil
}

// Issuer returns the issuer identifier, exactly as configured.
func (s *Server) Issuer() string { return s.cfg.Issuer }

// endpoint returns the absolute URL of a path below the issuer.
func (s *Server) endpoint(path string) string { return s.cfg.Issuer + path }

// Endpoints of the server, relative to the issuer.
const (
	pathAuthorize  = "/authorize"
	pathLogin      = "/login"
	pathLogout     = "/logout"
	pathConsent    = "/consent"
	pathCallback   = "/callback"
	pathToken      = "/token"
	pathRegister   = "/register"
	pathIntrospect = "/introspect"
	pathRevoke     = "/revoke"
	pathJWKS       = "/.well-known/jwks.json"
	pathAssets     = "/assets/"

	wellKnownAS   = "/.well-known/oauth-authorization-server"
	wellKnownOIDC = "/.well-known/openid-configuration"
)

// route describes one endpoint: its methods, rate-limit bucket, whether
// browsers on other origins may call it (CORS without credentials), and how
// the errors its handler returns are answered.
type route struct {
	methods string
	limit   string
	cors    bool
	handler func(http.ResponseWriter, *http.Request) error
	errors  errorStyle
}

// errorStyle is how a route answers the errors its handler returns.
type errorStyle int

const (
	// errorsJSON: RFC 6749 §5.2 JSON, for the endpoints clients call.
	errorsJSON errorStyle = iota
	// errorsPage: our HTML error page for browsers (JSON for other callers).
	errorsPage
	// errorsRedirect: a step of the authorization flow. A [*clientError]
	// goes back to the client's redirect URI with error, state and iss
	// (RFC 6749 §4.1.2.1, RFC 9207); anything else as errorsPage.
	errorsRedirect
)

// clientError is an authorization error to send to the client's redirect
// URI rather than show (see errorsRedirect).
type clientError struct {
	redirectURI, state string
	err                error
}

func (e *clientError) Error() string { return e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

// toClient returns err as one to redirect to the client with state.
func toClient(redirectURI, state string, err error) error {
	return &clientError{redirectURI: redirectURI, state: state, err: err}
}

// answerError answers a handler's error in its route's style.
func (s *Server) answerError(w http.ResponseWriter, r *http.Request, style errorStyle, err error) {
	var ce *clientError
	if style == errorsRedirect && errors.As(err, &ce) {
		s.redirectError(w, r, ce.redirectURI, ce.state, ce.err)
		return
	}
	s.fail(w, r, style == errorsJSON, err)
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	meta := route{methods: "GET, HEAD", limit: limits.EndpointDefault, cors: true, handler: s.handleMetadata, errors: errorsJSON}
	// RFC 8414 §3.1 path insertion, and the OIDC Discovery forms clients also probe.
	s.handle(wellKnownAS+s.basePath, meta)
	s.handle(wellKnownOIDC+s.basePath, meta)
	if s.basePath != "" {
		s.handle(s.basePath+wellKnownAS, meta)
		s.handle(s.basePath+wellKnownOIDC, meta)
	}
	s.handle(s.basePath+pathJWKS, route{methods: "GET, HEAD", limit: limits.EndpointDefault, cors: true, handler: s.handleJWKS, errors: errorsJSON})
	if !s.cfg.DisableRegistration {
		s.handle(s.basePath+pathRegister, route{methods: "POST", limit: limits.EndpointRegister, cors: true, handler: s.handleRegister, errors: errorsJSON})
		s.handle(s.basePath+pathRegister+"/{id}", route{methods: "GET, PUT, DELETE", limit: limits.EndpointRegister, cors: true, handler: s.handleClientConfig, errors: errorsJSON})
	}
	s.handle(s.basePath+pathAuthorize, route{methods: "GET, POST", limit: limits.EndpointAuthorize, handler: s.handleAuthorize, errors: errorsRedirect})
	// One browser login takes several page requests: only /authorize itself
	// counts against the authorize limit.
	s.handle(s.basePath+pathLogin, route{methods: "GET, POST", limit: limits.EndpointDefault, handler: s.handleLogin, errors: errorsRedirect})
	s.handle(s.basePath+pathLogout, route{methods: "POST", limit: limits.EndpointDefault, handler: s.handleLogout, errors: errorsPage})
	s.handle(s.basePath+pathConsent, route{methods: "GET, POST", limit: limits.EndpointDefault, handler: s.handleConsent, errors: errorsRedirect})
	if gx, ok := s.authority.(*grantexAuthority); ok {
		// Managed mode only: the browser's way back from Grantex's consent page.
		s.handle(s.basePath+pathCallback, route{methods: "GET", limit: limits.EndpointDefault, handler: gx.handleCallback, errors: errorsRedirect})
	}
	s.handle(s.basePath+pathToken, route{methods: "POST", limit: limits.EndpointToken, cors: true, handler: s.handleToken, errors: errorsJSON})
	s.handle(s.basePath+pathIntrospect, route{methods: "POST", limit: limits.EndpointIntrospect, cors: true, handler: s.handleIntrospect, errors: errorsJSON})
	s.handle(s.basePath+pathRevoke, route{methods: "POST", limit: limits.EndpointRevoke, cors: true, handler: s.handleRevoke, errors: errorsJSON})
	s.feedRoutes()
	s.handle(s.basePath+pathAssets, route{methods: "GET, HEAD", limit: limits.EndpointDefault, handler: s.handleAssets, errors: errorsJSON})
}

// handle registers r at path with method checks, CORS, rate limiting and
// panic recovery, so every endpoint answers bad input in its own format.
func (s *Server) handle(path string, r route) {
	endpoint := s.endpointLabel(path)
	s.mux.HandleFunc(path, func(w http.ResponseWriter, req *http.Request) {
		w, req, done := s.observeRequest(w, req, endpoint)
		defer done()
		boundBodyRead(w, req, s.cfg.BodyReadTimeout)
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if r.cors {
			h.Set("Access-Control-Allow-Origin", "*")
			if req.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", r.methods+", OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
				h.Set("Access-Control-Max-Age", "86400")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if !methodAllowed(r.methods, req.Method) {
			h.Set("Allow", r.methods)
			s.fail(w, req, r.errors == errorsJSON, oauth.MethodNotAllowed(r.methods))
			return
		}
		if s.limiter != nil {
			if rate, ok := s.cfg.RateLimits.For(r.limit); ok {
				// One bucket per endpoint (path) and client IP, even where endpoints share a rate.
				if wait := s.limiter.Allow(path+"|"+s.clientIP(req), rate.Requests, rate.Per); wait > 0 {
					s.metrics.rateLimit(endpoint)
					s.fail(w, req, r.errors == errorsJSON, oauth.TooManyRequests(wait))
					return
				}
			}
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("mcpauth: handler panic", "path", req.URL.Path, "panic", p, "stack", string(debug.Stack()))
				s.fail(w, req, r.errors == errorsJSON, oauth.ServerError("internal error"))
			}
		}()
		if err := r.handler(w, req); err != nil {
			s.answerError(w, req, r.errors, err)
		}
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern == "" || (strings.HasSuffix(pattern, "/") && pattern != s.basePath+pathAssets) {
		s.fail(w, r, true, &oauth.Error{Code: "not_found", Description: "no such endpoint", Status: http.StatusNotFound})
		return
	}
	h.ServeHTTP(w, r)
}

// fail answers err as OAuth JSON or, for browser pages, an HTML error page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, oauthish bool, err error) {
	oe := oauth.As(err)
	s.logError(r, oe)
	if oauthish || !acceptsHTML(r) {
		oauth.Write(w, oe)
		return
	}
	s.renderError(w, r, oe)
}

// logError logs server-side failures with their cause; client errors at debug.
func (s *Server) logError(r *http.Request, oe *oauth.Error) {
	level := slog.LevelDebug
	if oe.Status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "mcpauth: request failed", "path", r.URL.Path, "oauth_error", oe)
}

func methodAllowed(allowed, method string) bool {
	for _, m := range strings.Split(allowed, ", ") {
		if m == method {
			return true
		}
	}
	return false
}

func acceptsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// storeErr turns a store failure into the OAuth error an endpoint answers:
// 503 temporarily_unavailable when the store is down, else server_error.
func storeErr(err error) *oauth.Error {
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return oauth.TemporarilyUnavailable(5*time.Second, "the authorization server's storage is unavailable; retry shortly").WithCause(err)
	}
	return oauth.ServerError("the server could not complete the request").WithCause(err)
}

// clientIP is the rate-limit key: the peer address, or the last
// X-Forwarded-For hop when the operator trusts the proxy in front; an IPv6
// address counts as its /64 (ratelimit.AddrKey).
func (s *Server) clientIP(r *http.Request) string {
	if s.cfg.TrustForwardedFor {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			parts := strings.Split(xff, ",")
			return ratelimit.AddrKey(strings.Trim(strings.TrimSpace(parts[len(parts)-1]), "[]"))
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
		if i := strings.LastIndexByte(host, ':'); i >= 0 {
			host = host[:i]
		}
	}
	return ratelimit.AddrKey(host)
}

// sweep deletes expired records in bounded batches.
func (s *Server) sweep() {
	defer s.wg.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.sweepOnce()
		if s.limiter != nil {
			s.limiter.EvictIdle(10 * time.Minute)
		}
		if s.pwBackoff != nil {
			s.pwBackoff.EvictIdle()
		}
	}
}

// sweepOnce deletes expired records and idle registered clients, in
// batches of 1000, at most 100k of each a round. Pending authorization
// requests are bounded separately (Config.MaxPendingAuthorizations).
func (s *Server) sweepOnce() {
	for range 100 {
		n, err := s.grants.DeleteExpired(context.Background(), s.now(), 1000)
		if err != nil {
			s.log.Warn("mcpauth: sweeping expired records", "err", err)
			break
		}
		if n < 1000 {
			break
		}
	}
	s.sweepFeed()
	for range 100 {
		n, err := s.clients.sweepClients(context.Background(), 1000)
		if err != nil {
			s.log.Warn("mcpauth: sweeping idle registered clients", "err", err)
			break
		}
		if n < 1000 {
			break
		}
	}
}

// secretSum is the stored digest of a client secret.
func secretSum(s string) []byte { return secret.Sum(s) }

// clone copies c deeply enough that nothing NewServer keeps or changes
// shares memory with the caller's Config: every slice and map is copied.
func (c Config) clone() Config {
	c.Scopes = slices.Clone(c.Scopes)
	c.DefaultScopes = slices.Clone(c.DefaultScopes)
	c.Resources = slices.Clone(c.Resources)
	c.AllowedRedirectURIs = slices.Clone(c.AllowedRedirectURIs)
	c.Introspectors = slices.Clone(c.Introspectors)
	c.SignInProviders = slices.Clone(c.SignInProviders)
	c.ScopeDescriptions = maps.Clone(c.ScopeDescriptions)
	c.Users = slices.Clone(c.Users)
	c.StaticClients = slices.Clone(c.StaticClients)
	for i := range c.StaticClients {
		cl := &c.StaticClients[i]
		cl.SecretDigest = slices.Clone(cl.SecretDigest)
		cl.RedirectURIs = slices.Clone(cl.RedirectURIs)
		cl.GrantTypes = slices.Clone(cl.GrantTypes)
		cl.ResponseTypes = slices.Clone(cl.ResponseTypes)
		cl.Contacts = slices.Clone(cl.Contacts)
	}
	if c.LoginBackoff != nil {
		lb := *c.LoginBackoff
		c.LoginBackoff = &lb
	}
	if c.RateLimits != nil {
		rl := *c.RateLimits
		rl.Limits = maps.Clone(rl.Limits)
		c.RateLimits = &rl
	}
	return c
}

// RotateSigningKey publishes a new signing key now (it signs after the
// publication delay) and retires the current ones once their tokens expire.
// It rotates the session key of login cookies and CSRF tokens likewise.
func (s *Server) RotateSigningKey(ctx context.Context) error {
	return s.keys.Rotate(ctx)
}
