package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	authstore "github.com/mcpauth/mcpauth/store"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/grantex"
	"github.com/mcpauth/mcpauth/store/postgres"
	"github.com/mcpauth/mcpauth/store/sqlite"
)

// Timeouts of start-up and health checks.
const (
	storeOpenTimeout = 20 * time.Second
	healthTimeout    = 3 * time.Second
)

// run is the whole program: it parses args (with defaults from getenv),
// starts the servers and serves until ctx ends, then shuts down gracefully.
// Errors of type *usageError are bad flags.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isCLICommand(args[0]) {
		return runCLI(ctx, args, getenv, stdout, stderr)
	}
	return runWith(ctx, args, getenv, stdout, stderr, nil)
}

// runWith is run with wrapStore, when not nil, applied to the opened store
// (tests make the store slow or faulty with it).
func runWith(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, wrapStore func(store) store) error {
	o, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(o, stderr)

	var gx *grantex.Client
	if o.grantexURL != "" {
		opts := []grantex.Option{grantex.WithLogger(log)}
		if o.grantexJWKSURL != "" {
			opts = append(opts, grantex.WithJWKSURL(o.grantexJWKSURL))
		}
		if gx, err = grantex.New(o.grantexURL, o.grantexAPIKey, o.grantexAgentID, opts...); err != nil {
			return usagef("-grantex-url/-grantex-api-key/-grantex-agent-id: %v", err)
		}
	}

	var users []mcpauth.PasswordUser
	var generated *generatedUser
	if o.passwordLogin && o.gw.remoteIssuer == "" {
		if users, generated, err = passwordUsers(o.users); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("cannot listen on -addr %s: %w", o.addr, err)
	}
	defer ln.Close()
	if o.metricsAddr != "" {
		mln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			return fmt.Errorf("cannot listen on -metrics-addr %s: %w", o.metricsAddr, err)
		}
		o.metrics = newMetricsRegistry()
		defer serveMetrics(mln, o.metrics, log).Close()
		fmt.Fprintf(stdout, "Metrics:  http://%s/metrics\n", mln.Addr())
	}
	if o.issuerFromAddr {
		// -addr may end in :0; the issuer names the port actually bound.
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		u, _ := url.Parse(o.issuer)
		u.Host = net.JoinHostPort(u.Hostname(), port)
		o.issuer = u.String()
	}

	var app *app
	var banner func()
	if o.gw.remoteIssuer != "" {
		// Gateway for another authorization server: no store, no keys.
		if app, err = newRemoteGatewayApp(o, log); err != nil {
			return err
		}
		banner = func() { printGatewayBanner(stdout, o, app) }
	} else {
		st, keyNote, err := openStore(ctx, o.store, o.storeKey, log)
		if err != nil {
			return err
		}
		defer st.Close()
		if wrapStore != nil {
			st = wrapStore(st)
		}
		if app, err = newApp(o, st, gx, users, log); err != nil {
			return err
		}
		banner = func() { printBanner(stdout, o, app, generated, keyNote) }
	}
	defer app.close()

	// Request contexts end only when shutdown gives up on them: in-flight
	// requests finish with their store calls intact.
	baseCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	hs := &http.Server{
		Handler: app.boundBodies(app.handler, o.bodyReadTimeout),
		// Headers within 10 s; bodies within -body-read-timeout (set per
		// request by boundBodies, not ReadTimeout, which would also cut
		// the long-lived streams).
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	// Shutdown waits for every active request, and a stream never ends by
	// itself: end them (the audit stream, MCP's GET streams) as it starts.
	hs.RegisterOnShutdown(app.endStreams)
	banner()

	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	if o.gw.remoteIssuer != "" {
		log.Info("mcp-auth-server started as a gateway", "resource", app.mcpURL, "remote_issuer", o.gw.remoteIssuer, "upstream", o.gw.upstream.Redacted())
	} else {
		log.Info("mcp-auth-server started", "issuer", o.issuer, "store", redactDSN(o.store))
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("mcp-auth-server shutting down", "timeout", o.shutdownTimeout)
	// Shutdown stops accepting at once, closes idle connections, ends the
	// streams (RegisterOnShutdown) and waits for in-flight requests.
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("shutdown: requests still running after -shutdown-timeout were cancelled", "err", err)
		cancelRequests()
		hs.Close()
	}
	return nil
}

func newLogger(o *options, stderr io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(o.logLevel)) // validated by parseFlags
	hopts := &slog.HandlerOptions{Level: level}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(stderr, hopts))
	}
	return slog.New(slog.NewTextHandler(stderr, hopts))
}

// generatedUser is the account made when no -user is given. Its password
// lives only in memory and in the start-up banner.
type generatedUser struct{ name, password string }

// passwordUsers hashes the -user accounts, or makes admin with a random
// password when there are none.
func passwordUsers(flags []userFlag) ([]mcpauth.PasswordUser, *generatedUser, error) {
	var gen *generatedUser
	if len(flags) == 0 {
		b := make([]byte, 15)
		_, _ = rand.Read(b)
		gen = &generatedUser{name: "admin", password: base64.RawURLEncoding.EncodeToString(b)}
		flags = []userFlag{{gen.name, gen.password}}
	}
	users := make([]mcpauth.PasswordUser, 0, len(flags))
	for _, u := range flags {
		h, err := mcpauth.HashPassword(u.password)
		if err != nil {
			return nil, nil, usagef("-user %q: %v", u.name, err)
		}
		users = append(users, mcpauth.PasswordUser{Username: u.name, PasswordHash: h})
	}
	return users, gen, nil
}

// store is what every -store backend gives: the three mcpauth stores in one.
type store interface {
	authstore.ClientStore
	authstore.GrantStore
	authstore.KeyStore
	Close() error
}

// memoryStore bundles the in-memory stores (-store memory:).
type memoryStore struct {
	memoryClients
	authstore.GrantStore
	authstore.KeyStore
}

// memoryClients is the in-memory client store, which also sweeps.
type memoryClients interface {
	authstore.ClientStore
	authstore.ClientSweeper
}

func (memoryStore) Close() error { return nil }

// openStore opens the -store backend, migrating it, within storeOpenTimeout.
// Signing and session keys are encrypted under key (-store-key); a SQLite
// store without one gets a key generated into a 0600 file beside it. note
// says where the key came from, for the banner.
func openStore(ctx context.Context, spec string, key []byte, log *slog.Logger) (st store, note string, err error) {
	kind, loc, err := parseStore(spec)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
	defer cancel()
	switch kind {
	case storeSQLite:
		if err := checkSQLitePath(loc); err != nil {
			return nil, "", fmt.Errorf("cannot open the SQLite store %q: %w", loc, err)
		}
		if key != nil {
			note = "-store-key"
		} else if loc != ":memory:" {
			path := keyFilePath(loc)
			var created bool
			if key, created, err = loadOrCreateKeyFile(path); err != nil {
				return nil, "", fmt.Errorf("cannot open the SQLite store %q: %w", loc, err)
			}
			note = "read from " + path
			if created {
				note = "generated into " + path + " (mode 0600); keep it with the database, or set -store-key"
			}
		}
		s, err := sqlite.Open(ctx, loc, sqlite.WithLogger(log), sqlite.WithEncryptionKey(key))
		if err != nil {
			return nil, "", fmt.Errorf("cannot open the SQLite store %q: %w", loc, err)
		}
		if err := checkStoreKey(ctx, s, note); err != nil {
			s.Close()
			return nil, "", err
		}
		// Keys written in plain text by an older version (or under a key
		// since replaced) are encrypted now, and their old bytes wiped.
		n, err := s.ReencryptKeys(ctx)
		if err != nil {
			s.Close()
			return nil, "", fmt.Errorf("cannot encrypt the keys in the SQLite store %q: %w", loc, err)
		}
		if n > 0 {
			log.Info("encrypted the keys stored in plain text", "store", loc, "keys", n)
		}
		return s, note, nil
	case storePostgres:
		note = "-store-key"
		if key == nil {
			note = "none: signing keys are stored unencrypted; set -store-key"
		}
		s, err := postgres.Open(ctx, loc, postgres.WithLogger(log), postgres.WithEncryptionKey(key))
		if err != nil {
			return nil, "", fmt.Errorf("cannot open the PostgreSQL store %s: %w", redactDSN(loc), err)
		}
		if err := checkStoreKey(ctx, s, note); err != nil {
			s.Close()
			return nil, "", err
		}
		return s, note, nil
	}
	return memoryStore{
		memoryClients: authstore.NewMemoryClientStore().(memoryClients),
		GrantStore:    authstore.NewMemoryGrantStore(time.Now),
		KeyStore:      authstore.NewMemoryKeyStore(),
	}, "", nil
}

// checkStoreKey fails start-up, naming the flag, when the stored keys were
// encrypted under another key than the one given.
func checkStoreKey(ctx context.Context, st store, source string) error {
	_, err := st.ListKeys(ctx)
	if errors.Is(err, sqlite.ErrEncryptionKey) || errors.Is(err, postgres.ErrEncryptionKey) {
		if source == "-store-key" {
			return fmt.Errorf("-store-key does not decrypt the keys in the store: %w", err)
		}
		return fmt.Errorf("the store key (%s) does not decrypt the keys in the store; give the right one with -store-key: %w", source, err)
	}
	return nil // other failures show, better worded, when the server loads its keys
}

// app is the authorization server, the demo MCP server and their routes.
type app struct {
	srv         *mcpauth.Server
	handler     http.Handler
	issuer      string
	mcpURL      string // "" without -demo-mcp
	prmURL      string
	metadataURL string
	auditURL    string
	closers     []func()
	// providers are the upstream sign-in providers, for the banner.
	providers []bannerProvider

	// streams ends the long-lived responses (endStreams, at shutdown).
	streams    context.Context
	endStreams context.CancelFunc
	// streaming reports whether r asks for a long-lived response.
	streaming func(r *http.Request) bool
}

// streamUntilShutdown ends next's response when shutdown starts (or the
// client goes), while ordinary requests keep their context to the end.
func (a *app) streamUntilShutdown(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(a.streams, cancel)()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// boundBodies gives every request but the streams d to deliver its body,
// counted from when it is handled, as the connection's read deadline
// (net/http clears it once the body has been read). A slow sender gets a
// read error, its handler answers 400/408, and the connection closes.
// Bodiless requests are skipped: a deadline would fire in the server's
// background read and cancel them. d 0 disables.
func (a *app) boundBodies(next http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody && !a.streaming(r) {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}

type bannerProvider struct{ name, callback string }

func (a *app) close() {
	for _, c := range slices.Backward(a.closers) {
		c()
	}
}

// newApp builds the mcpauth.Server from the options and mounts everything.
func newApp(o *options, st store, gx *grantex.Client, users []mcpauth.PasswordUser, log *slog.Logger) (*app, error) {
	iss, _ := url.Parse(o.issuer)
	origin := iss.Scheme + "://" + iss.Host
	a := &app{
		issuer:      o.issuer,
		metadataURL: origin + "/.well-known/oauth-authorization-server" + iss.EscapedPath(),
		auditURL:    o.issuer + mcpauth.AuditStreamPath,
	}
	a.streams, a.endStreams = context.WithCancel(context.Background())
	a.closers = append(a.closers, a.endStreams)
	// /mcp is the demo MCP server, or with -upstream the gateway to another.
	serveMCP := o.demoMCP || o.gw.upstream != nil
	auditPath := iss.EscapedPath() + mcpauth.AuditStreamPath
	feedPath := iss.EscapedPath() + mcpauth.RevocationFeedPath
	a.streaming = func(r *http.Request) bool {
		return r.Method == http.MethodGet && (r.URL.Path == auditPath || r.URL.Path == feedPath || serveMCP && r.URL.Path == "/mcp")
	}
	scopes := slices.Clone(o.scopes)
	if !slices.Contains(scopes, mcpauth.AuditReadScope) {
		scopes = append(scopes, mcpauth.AuditReadScope)
	}
	if !slices.Contains(scopes, mcpauth.AdminScope) {
		scopes = append(scopes, mcpauth.AdminScope)
	}
	cfg := mcpauth.Config{
		Issuer: o.issuer,
		Scopes: scopes,
		// audit:read is granted only when asked for by name.
		DefaultScopes:     o.scopes,
		ScopeDescriptions: scopeDescriptions,
		Users:             users,
		StaticClients:     o.staticClients,
		Clients:           st,
		Grants:            st,
		Keys:              st,
		RateLimits:        o.rateLimits,
		TrustForwardedFor: o.trustForwardedFor,
		Introspectors:     o.introspectors,
		RevocationFeed:    mcpauth.RevocationFeedConfig{OperatorSecret: o.auditSecret, MaxStreams: o.feedMaxStreams},
		MaxStateLength:    o.maxStateLength,
		ConsentUI:         o.brand,
		Logger:            log,
		GrantPolicy:       operatorPolicy(o.operators),
		Metrics:           o.metricsRegisterer(),

		StoreTimeout:             o.storeTimeout,
		RefreshRetryWindow:       o.refreshRetryWindow,
		ClientIdleExpiry:         o.clientIdleExpiry,
		MaxPendingAuthorizations: o.maxPending,
		VerifiedTokenCacheSize:   o.tokenCache,
		MaxDelegationDepth:       o.maxDelegationDepth,
		DefaultBudget:            o.defaultBudget,
		BodyReadTimeout:          o.bodyReadTimeout,
	}
	if o.bodyReadTimeout == 0 {
		cfg.BodyReadTimeout = -1 // 0 is "off" for the flag, "default" for Config
	}
	cfg.PasswordCheckConcurrency, cfg.PasswordCheckWait = o.passwordCheckConcurrency, o.passwordCheckWait
	cfg.LoginBackoff = o.loginBackoff
	if gx != nil {
		cfg.Grantex = mcpauth.GrantexConfig{Client: gx, AgentID: o.grantexAgentID, Issuer: o.grantexIssuer}
	}
	if serveMCP {
		a.mcpURL = origin + "/mcp"
		var err error
		if a.prmURL, err = mcpauth.ProtectedResourceMetadataURL(a.mcpURL); err != nil {
			return nil, err
		}
		// Tokens name the MCP server (the default, for clients that send no
		// resource indicator, is the issuer: what the audit stream accepts).
		cfg.Resources = []string{a.mcpURL, o.issuer}
	}
	if len(o.gw.resources) > 0 {
		// -resource: gateways elsewhere that this server issues tokens for.
		if len(cfg.Resources) == 0 {
			cfg.Resources = []string{o.issuer}
		}
		cfg.Resources = append(cfg.Resources, o.gw.resources...)
	}
	callbacks, err := signInProviders(o, &cfg, log, a)
	if err != nil {
		return nil, err
	}
	srv, err := mcpauth.NewServer(cfg)
	if err != nil {
		var ce *mcpauth.ConfigError
		if errors.As(err, &ce) {
			return nil, usagef("%s: %s", configFlag(ce.Field), ce.Reason)
		}
		return nil, fmt.Errorf("cannot start the authorization server: %w", err)
	}
	a.srv = srv
	a.closers = append(a.closers, func() { srv.Close() })

	mux := http.NewServeMux()
	mux.Handle("/", srv)
	for path, h := range callbacks {
		mux.Handle("GET "+path, h)
	}
	mux.HandleFunc("GET /healthz", healthHandler(st, log, srv.RevocationFeedDegraded))
	mux.Handle(feedPath, a.streamUntilShutdown(srv))
	mux.Handle(auditPath, a.streamUntilShutdown(srv.AuditStreamHandler(mcpauth.AuditStreamOptions{
		OperatorSecret: o.auditSecret, Logger: log,
	})))
	srv.AddExtension("audit_stream", mcpauth.AuditStreamPath)
	mux.Handle(iss.EscapedPath()+mcpauth.AdminPath+"/", srv.AdminHandler(mcpauth.AdminOptions{OperatorSecret: o.auditSecret, Logger: log}))

	if serveMCP {
		mcpHandler, closeMCP, err := localMCPHandler(o, srv, a.mcpURL, log)
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, closeMCP)
		// GET /mcp is the server-to-client SSE stream; POSTs finish normally.
		mux.Handle("GET /mcp", a.streamUntilShutdown(mcpHandler))
		mux.Handle("/mcp", mcpHandler)
		prm := mcpauth.ProtectedResourceMetadataHandler(mcpauth.ProtectedResource{
			Resource:             a.mcpURL,
			AuthorizationServers: []string{o.issuer},
			ScopesSupported:      o.scopes,
			ResourceName:         mcpResourceName(o),
		})
		prmPath, _ := mcpauth.ProtectedResourceMetadataPath(a.mcpURL)
		mux.Handle(prmPath, prm)
		// The root form, for clients that only try the origin's document.
		mux.Handle(mcpauth.ProtectedResourceMetadataWellKnown, prm)
	}
	if iss.EscapedPath() != "" {
		mux.HandleFunc("GET /{$}", a.home) // srv owns / when the issuer is the bare origin
	}
	a.handler = mux
	if iss.EscapedPath() == "" {
		a.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
				a.home(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		})
	}
	return a, nil
}

// configFlag names the flag behind a Config field NewServer rejected.
func configFlag(field string) string {
	switch field {
	case "Issuer", "Resources":
		return "-issuer"
	case "Scopes", "DefaultScopes":
		return "-scopes"
	case "Users":
		return "-user"
	case "StaticClients":
		return "-static-client"
	case "SignInProviders":
		return "-oidc-name"
	case "Grantex.AgentID", "Grantex.Issuer":
		return "-grantex-agent-id/-grantex-issuer"
	}
	return "configuration (" + field + ")"
}

// scopeDescriptions are the consent page's texts for the default scopes.
var scopeDescriptions = map[string]string{
	"tools:read":           "See the tools this server offers",
	"tools:execute":        "Run tools on your behalf",
	"resources:read":       "Read resources this server exposes",
	mcpauth.AuditReadScope: "Read the authorization server's audit log (operators only)",
	mcpauth.AdminScope:     "Manage this server's clients and grants (operators only)",
}

// home is a plain-text landing page: where to point an MCP client.
func (a *app) home(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "mcp-auth-server\n\nIssuer:   %s\nMetadata: %s\n", a.issuer, a.metadataURL)
	if a.mcpURL != "" {
		fmt.Fprintf(w, "MCP:      %s\n\nConnect an MCP client to the MCP URL; it will open this server's sign-in page.\n", a.mcpURL)
	}
}

// checkSQLitePath says in the operator's terms why a SQLite file cannot be
// opened or created, before the driver's terse "unable to open database file".
func checkSQLitePath(loc string) error {
	if loc == ":memory:" || strings.HasPrefix(loc, "file:") {
		return nil
	}
	dir := filepath.Dir(loc)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("the directory %s does not exist: create it, or give -store another path", dir)
	case err != nil:
		return fmt.Errorf("the directory %s cannot be read: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	if f, err := os.OpenFile(loc, os.O_RDWR, 0); err == nil {
		f.Close()
		return nil
	} else if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("permission denied: this server (uid %d) cannot write %s; check its owner and mode", os.Getuid(), loc)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	probe, err := os.CreateTemp(dir, ".mcpauth-probe-*")
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("permission denied: this server (uid %d) cannot create files in %s; check its owner and mode", os.Getuid(), dir)
		}
		return fmt.Errorf("cannot create files in %s: %w", dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// healthHandler answers 200 when the store answers, 503 otherwise. It is
// public: the store's error goes to the log, not to the caller.
//
// feedDown (may be nil) reports the revocation feed down: the answer is
// then 200 {"status":"degraded"}: tokens still verify on signature and
// expiry, but revocations reach verifiers late.
func healthHandler(st store, log *slog.Logger, feedDown func() bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		status, body := http.StatusOK, map[string]string{"status": "ok"}
		if feedDown != nil && feedDown() {
			body = map[string]string{"status": "degraded", "error": "the revocation feed is down"}
		}
		if err := pingStore(ctx, st); err != nil {
			log.WarnContext(ctx, "healthz: the store does not answer", "err", err)
			status, body = http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "the store does not answer"}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
}

// pingStore makes one cheap read, so a database that is down shows.
func pingStore(ctx context.Context, st store) error {
	if p, ok := st.(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	_, err := st.IsRevoked(ctx, "healthz", "healthz")
	return err
}

// printBanner tells the operator where everything is and how to sign in.
func printBanner(w io.Writer, o *options, a *app, gen *generatedUser, keyNote string) {
	fmt.Fprintf(w, "mcp-auth-server is running\n")
	fmt.Fprintf(w, "  Issuer:             %s\n", a.issuer)
	fmt.Fprintf(w, "  Metadata:           %s\n", a.metadataURL)
	if a.mcpURL != "" {
		fmt.Fprintf(w, "  MCP server:         %s\n", a.mcpURL)
		fmt.Fprintf(w, "  Resource metadata:  %s\n", a.prmURL)
	}
	if o.gw.upstream != nil {
		fmt.Fprintf(w, "  Upstream:           %s (gateway: /mcp is proxied there)\n", o.gw.upstream.Redacted())
	}
	for _, r := range o.gw.resources {
		fmt.Fprintf(w, "  Also issues for:    %s\n", r)
	}
	fmt.Fprintf(w, "  Audit stream:       %s (a token with %s, granted only to -operator accounts, or -operator-secret)\n", a.auditURL, mcpauth.AuditReadScope)
	fmt.Fprintf(w, "  Admin API:          %s/ (a token with %s, or -operator-secret; CLI: mcp-auth-server clients|grants -server %s)\n", a.issuer+mcpauth.AdminPath, mcpauth.AdminScope, a.issuer)
	fmt.Fprintf(w, "  Health:             %s\n", originOf(a.issuer)+"/healthz")
	fmt.Fprintf(w, "  Store:              %s\n", redactDSN(o.store))
	if keyNote != "" {
		fmt.Fprintf(w, "  Store key:          %s\n", keyNote)
	}
	if o.grantexURL != "" {
		fmt.Fprintf(w, "  Grantex (managed):  %s as agent %s\n", o.grantexURL, o.grantexAgentID)
	}
	for _, p := range a.providers {
		fmt.Fprintf(w, "  Sign-in provider:   %s (callback %s)\n", p.name, p.callback)
	}
	if !o.passwordLogin {
		fmt.Fprintf(w, "Sign in with an identity provider (-password-login=false).\n")
	} else if gen != nil {
		fmt.Fprintf(w, "Sign in as %q with password %q (generated for this run only; choose your own with -user name:password).\n", gen.name, gen.password)
	} else {
		names := make([]string, len(o.users))
		for i, u := range o.users {
			names[i] = u.name
		}
		fmt.Fprintf(w, "Sign in with a -user account: %v.\n", names)
	}
	if a.mcpURL != "" {
		fmt.Fprintf(w, "Connect an MCP client (MCP Inspector, Claude, VS Code) to %s; it opens the sign-in page in your browser.\n", a.mcpURL)
	}
}

func originOf(issuer string) string {
	u, _ := url.Parse(issuer)
	return u.Scheme + "://" + u.Host
}

// operatorPolicy makes audit:read, which reads every user's audit events,
// and admin, which manages every client and grant, grantable only to the
// -operator accounts. For anyone else it is dropped
// from the consent page and the token rather than failing the request:
// clients commonly ask for every scope in scopes_supported, and RFC 6749
// §3.3 lets the server grant less than requested (the token response's
// scope says what was granted). A request for audit:read alone leaves
// nothing to grant and fails with invalid_scope.
func operatorPolicy(operators []string) func(context.Context, mcpauth.GrantRequest) ([]string, error) {
	return func(_ context.Context, r mcpauth.GrantRequest) ([]string, error) {
		if slices.Contains(operators, r.User.Subject) {
			return r.Scopes, nil
		}
		return slices.DeleteFunc(slices.Clone(r.Scopes), func(s string) bool { return s == mcpauth.AuditReadScope || s == mcpauth.AdminScope }), nil
	}
}
