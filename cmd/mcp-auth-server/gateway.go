package main

// Gateway mode: /mcp is an authorizing reverse proxy in front of an
// existing MCP server (-upstream), verifying tokens issued here or, with
// -remote-issuer, by another authorization server.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/sdkauth"
)

// The headers that carry the verified grant to the upstream MCP server.
// The bearer token itself never goes upstream: MCP forbids token
// passthrough (MCP 2025-11-25 §Access Token Privilege Restriction), so the
// upstream learns who is calling from these, which it must trust only
// because nothing but the gateway can reach it.
const (
	headerSubject  = "X-Mcp-Auth-Subject"   // the token's sub
	headerClientID = "X-Mcp-Auth-Client-Id" // the OAuth client the user authorized
	headerScopes   = "X-Mcp-Auth-Scopes"    // the granted scopes, space-separated (RFC 6749 §3.3)
	headerGrantID  = "X-Mcp-Auth-Grant-Id"  // the consent the token belongs to ("" when the issuer has none)

	// identityPrefix: every request header whose name starts with it,
	// compared case-insensitively with '_' taken as '-', is removed before
	// the four above are set. Servers behind CGI-style gateways (WSGI,
	// PHP, some proxies) read X_Mcp_Auth_Subject as X-Mcp-Auth-Subject.
	identityPrefix = "x-mcp-auth-"
)

// Defaults of the upstream bounds.
const (
	defaultUpstreamDialTimeout   = 5 * time.Second
	defaultUpstreamHeaderTimeout = 2 * time.Minute
	defaultIntrospectionTTL      = 10 * time.Second
	defaultMaxSessions           = 100000
)

// gatewayOptions are the -upstream, -remote-* and -resource flags.
type gatewayOptions struct {
	// upstream is the MCP server /mcp forwards to; nil: the demo server.
	upstream *url.URL
	// dialTimeout bounds connecting to the upstream; headerTimeout bounds
	// the wait for its response headers once the request is sent.
	dialTimeout, headerTimeout time.Duration
	// remoteIssuer: no authorization server here; tokens come from it.
	remoteIssuer string
	// resource is the canonical resource URI in -remote-issuer mode (""
	// until run knows the port: <issuer>/mcp).
	resource string
	// resources are the extra audiences the local authorization server
	// issues tokens for (-resource without -remote-issuer).
	resources []string
	// remoteClientID and remoteClientSecret are this gateway's credentials
	// at the remote authorization server (RFC 7662 introspection).
	remoteClientID, remoteClientSecret string
	// introspectionTTL is how long an introspection answer is reused.
	introspectionTTL time.Duration
	// feedFailClosed: refuse every token (503) once the remote revocation
	// feed has been down this long; 0 fails open (VerifierOptions.FeedFailClosed).
	feedFailClosed time.Duration
	// toolScopes: tools/call of a named tool needs these scopes too.
	toolScopes map[string][]string
	// maxSessions bounds the MCP sessions whose owner is remembered.
	maxSessions int
}

// gatewayFlagValues are the raw gateway flags, checked by checkGateway.
type gatewayFlagValues struct {
	upstream, remoteIssuer, remoteClientID, remoteClientSecret *string
	dialTimeout, headerTimeout, introspectionTTL               *time.Duration
	feedFailClosed                                             *time.Duration
	resources, toolScopes                                      listFlag
	maxSessions                                                *int
}

// defineGatewayFlags adds the gateway flags to fs.
func defineGatewayFlags(fs *flag.FlagSet) *gatewayFlagValues {
	v := &gatewayFlagValues{
		upstream:           fs.String("upstream", "", "gateway mode: reverse-proxy /mcp to the MCP server (streamable HTTP) at this `URL`, after verifying the token; the token is never forwarded, the grant goes in X-Mcp-Auth-* headers"),
		remoteIssuer:       fs.String("remote-issuer", "", "gateway only (needs -upstream): run no authorization server; accept tokens issued by the authorization server at this issuer `URL` (RFC 8414 discovery, JWKS)"),
		remoteClientID:     fs.String("remote-client-id", "", "this gateway's client_id at the -remote-issuer (a confidential client listed there with -introspector), for its revocation feed and token introspection"),
		remoteClientSecret: fs.String("remote-client-secret", "", "this gateway's client secret at the -remote-issuer (prefer the environment variable)"),
		introspectionTTL:   fs.Duration("remote-introspection-ttl", defaultIntrospectionTTL, "with -remote-client-id: how long the remote authorization server's answer that a token is active is reused (revocations show within it)"),
		dialTimeout:        fs.Duration("upstream-dial-timeout", defaultUpstreamDialTimeout, "how long connecting to the -upstream may take before 502"),
		headerTimeout:      fs.Duration("upstream-header-timeout", defaultUpstreamHeaderTimeout, "how long the -upstream may take to start its response before 504 (streamed bodies are not bounded)"),
	}
	v.feedFailClosed = fs.Duration("remote-feed-fail-closed", 0, "with -remote-client-id: once the remote revocation feed has been down this `long`, answer every token 503 (fail closed); 0 keeps verifying on signature and expiry (fail open)")
	v.maxSessions = fs.Int("upstream-max-sessions", defaultMaxSessions, "MCP sessions whose owner the gateway remembers, refusing them to other users; beyond it the least recently used are forgotten")
	fs.Var(&v.resources, "resource", "with -remote-issuer: this gateway's canonical resource `URL` (default http://<addr>/mcp); otherwise: an extra audience (a gateway elsewhere) the authorization server issues tokens for; repeatable")
	fs.Var(&v.toolScopes, "tool-scope", "`tool=scope[ scope…]`: a tools/call of that tool also needs these scopes (403 insufficient_scope step-up otherwise); repeatable")
	return v
}

// checkGateway validates the gateway flags into o.gw. It runs after
// o.check, so o.issuerFromAddr says whether -issuer was given.
func (o *options) checkGateway(v *gatewayFlagValues) error {
	g := &o.gw
	g.dialTimeout, g.headerTimeout = *v.dialTimeout, *v.headerTimeout
	if g.dialTimeout <= 0 {
		return usagef("-upstream-dial-timeout %v: must be positive", g.dialTimeout)
	}
	if g.headerTimeout <= 0 {
		return usagef("-upstream-header-timeout %v: must be positive", g.headerTimeout)
	}
	if g.maxSessions = *v.maxSessions; g.maxSessions <= 0 {
		return usagef("-upstream-max-sessions %d: must be positive", g.maxSessions)
	}
	if *v.upstream != "" {
		u, err := url.Parse(*v.upstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
			return usagef("-upstream %q: want an http(s) URL without user info or fragment", *v.upstream)
		}
		g.upstream = u
	}
	for _, ts := range v.toolScopes.vals {
		name, scopes, ok := strings.Cut(ts, "=")
		fields := strings.Fields(scopes)
		if !ok || name == "" || len(fields) == 0 {
			return usagef("-tool-scope %q: want tool=scope[ scope…]", ts)
		}
		for _, s := range fields {
			if !validScope(s) {
				return usagef("-tool-scope %q: %q is not a valid scope token", ts, s)
			}
		}
		if g.toolScopes == nil {
			g.toolScopes = map[string][]string{}
		}
		g.toolScopes[name] = append(g.toolScopes[name], fields...)
	}
	if len(g.toolScopes) > 0 && g.upstream == nil {
		return usagef("-tool-scope needs -upstream (the demo server has its own)")
	}
	g.remoteClientID, g.remoteClientSecret = *v.remoteClientID, *v.remoteClientSecret
	if g.feedFailClosed = *v.feedFailClosed; g.feedFailClosed < 0 {
		return usagef("-remote-feed-fail-closed %v: must not be negative", g.feedFailClosed)
	}
	if g.introspectionTTL = *v.introspectionTTL; g.introspectionTTL <= 0 {
		return usagef("-remote-introspection-ttl %v: must be positive", g.introspectionTTL)
	}
	g.remoteIssuer = *v.remoteIssuer
	if g.remoteIssuer == "" {
		if g.remoteClientID != "" || g.remoteClientSecret != "" {
			return usagef("-remote-client-id and -remote-client-secret need -remote-issuer")
		}
		for _, r := range v.resources.vals {
			if err := checkResourceFlag(r); err != nil {
				return usagef("-resource %q: %v", r, err)
			}
		}
		g.resources = v.resources.vals
		return nil
	}

	// -remote-issuer: only the protected resource runs here.
	if err := checkIssuer(g.remoteIssuer); err != nil {
		return usagef("-remote-issuer %q: %v", g.remoteIssuer, err)
	}
	switch {
	case g.upstream == nil:
		return usagef("-remote-issuer needs -upstream: the MCP server to protect")
	case (g.remoteClientID == "") != (g.remoteClientSecret == ""):
		return usagef("-remote-client-id and -remote-client-secret go together (or %s)", envName("remote-client-secret"))
	case len(v.resources.vals) > 1:
		return usagef("-resource: with -remote-issuer, give this gateway's one canonical URL")
	case !o.issuerFromAddr:
		return usagef("-issuer names this server's own authorization server; with -remote-issuer, set the public URL with -resource")
	}
	// Flags of the authorization server that would silently do nothing.
	for _, f := range []struct {
		set  bool
		name string
	}{
		{len(o.users) > 0, "-user"}, {o.grantexURL != "", "-grantex-url"}, {len(o.staticClients) > 0, "-static-client"},
		{len(o.introspectors) > 0, "-introspector"}, {len(o.operators) > 0, "-operator"}, {o.auditSecret != "", "-operator-secret (-audit-secret)"},
		{o.oidc.issuer != "", "-oidc-issuer"}, {o.github.clientID != "", "-github-client-id"},
	} {
		if f.set {
			return usagef("%s configures the authorization server, which -remote-issuer replaces", f.name)
		}
	}
	if len(v.resources.vals) == 1 {
		g.resource = v.resources.vals[0]
		if err := checkResourceFlag(g.resource); err != nil {
			return usagef("-resource %q: %v", g.resource, err)
		}
	} else if err := checkIssuer(o.issuer); err != nil {
		// The default, http://<addr>/mcp, is for loopback only.
		return usagef("-resource is required with -addr %q: %v", o.addr, err)
	}
	return nil
}

// checkResourceFlag accepts a resource URI (RFC 8707 §2) that a
// client may be sent to: https, or http on a loopback host; no fragment,
// query or user info; a path the router can serve.
func checkResourceFlag(r string) error {
	if err := checkIssuer(strings.TrimSuffix(r, "/")); err != nil {
		return err
	}
	if strings.ContainsAny(r, "{} ") {
		return errors.New("the path must not contain braces or spaces")
	}
	return nil
}

// gatewayConfig is what newGatewayHandler needs.
type gatewayConfig struct {
	verifier *mcpauth.Verifier
	resource string // canonical resource URI: the tokens' audience
	upstream *url.URL
	// challengeScopes go in 401 challenges (MCP RS4).
	challengeScopes []string
	toolScopes      map[string][]string
	maxSessions     int
	// trustForwardedFor keeps the client's X-Forwarded-For chain (set only
	// behind a reverse proxy you control), appending the peer to it.
	trustForwardedFor bool
	dialTimeout       time.Duration
	headerTimeout     time.Duration
	// introspector, when set, also asks the remote authorization server
	// whether each token is still active (RFC 7662).
	introspector *remoteIntrospector
	log          *slog.Logger
}

// newGatewayHandler is the MCP endpoint of gateway mode: the Host check,
// CORS, RequireMCPAuth (401/403 challenges naming the resource metadata,
// per-tool scope step-up) and then the reverse proxy to the upstream.
func newGatewayHandler(c gatewayConfig) (http.Handler, error) {
	var perTool []sdkauth.Option
	if len(c.toolScopes) > 0 {
		perTool = append(perTool, sdkauth.ToolScopes(c.toolScopes))
	}
	requireAuth, err := sdkauth.NewRequireMCPAuth(&mcpauth.RequireMCPAuthOptions{
		Verifier:        c.verifier,
		VerifierOptions: mcpauth.VerifierOptions{Audience: c.resource, Logger: c.log},
		ChallengeScopes: c.challengeScopes,
	}, perTool...)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(c.resource)
	if err != nil {
		return nil, err
	}
	inner := newUpstreamProxy(c)
	if c.introspector != nil {
		prmURL, err := mcpauth.ProtectedResourceMetadataURL(c.resource)
		if err != nil {
			return nil, err
		}
		inner = c.introspector.requireActive(inner, prmURL, c.challengeScopes)
	}
	return checkHost(u.Host, withCORS(requireAuth(inner))), nil
}

// newUpstreamProxy forwards a verified request to c.upstream. Responses,
// Server-Sent Events included, are copied as they arrive (FlushInterval
// -1), so notifications and progress reach the client at once.
func newUpstreamProxy(c gatewayConfig) http.Handler {
	up := c.upstream
	sessions := newSessionOwners(c.maxSessions)
	transport := &http.Transport{
		// The upstream is reached directly: it is meant to be on loopback
		// or a private network, not behind an egress proxy.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: c.dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   c.dialTimeout,
		ResponseHeaderTimeout: c.headerTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			out := pr.Out
			// The gateway's /mcp is exactly the upstream URL.
			out.URL.Scheme, out.URL.Host = up.Scheme, up.Host
			out.URL.Path, out.URL.RawPath = up.Path, up.RawPath
			out.URL.RawQuery = joinQuery(up.RawQuery, pr.In.URL.RawQuery)
			out.Host = "" // the upstream's own host, for its DNS-rebinding check
			if c.trustForwardedFor {
				out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			}
			pr.SetXForwarded()
			setIdentity(out.Header, grantOfRequest(pr.In))
		},
		Transport:     transport,
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			// The gateway answers CORS itself (withCORS); the upstream's
			// copies would duplicate Access-Control-Allow-Origin, which
			// browsers refuse. No cookies: on this origin (which may be
			// the authorization server's) they are the sign-in session's.
			for k := range resp.Header {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					delete(resp.Header, k)
				}
			}
			resp.Header.Del("Set-Cookie")
			// A session the upstream opened belongs to this caller; one
			// it ended is forgotten.
			if resp.StatusCode/100 == 2 {
				sent, got := resp.Request.Header.Get("Mcp-Session-Id"), resp.Header.Get("Mcp-Session-Id")
				switch g := grantOfRequest(resp.Request); {
				case g == nil:
				case sent == "" && got != "":
					sessions.record(got, g.Subject)
				case sent != "" && resp.Request.Method == http.MethodDelete:
					sessions.forget(sent)
				}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			upstreamError(w, r, err, c.log)
		},
		ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelWarn),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := grantOfRequest(r)
		if g == nil {
			// RequireMCPAuth always sets it; never forward unauthenticated.
			c.log.ErrorContext(r.Context(), "gateway: request without a verified grant")
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if !headerSafe(g.Subject) || !headerSafe(g.ClientID) || !headerSafe(g.GrantID) || !headerSafe(strings.Join(g.Scopes, " ")) {
			// A header cannot carry them (RFC 9110 §5.5): refuse rather
			// than send something else, or nothing, as the caller.
			c.log.WarnContext(r.Context(), "gateway: the token's claims cannot be sent in X-Mcp-Auth-* headers", "sub", g.Subject, "client_id", g.ClientID)
			writeGatewayError(w, http.StatusBadGateway, "unusable_claims", "the token's subject, client, grant or scopes contain control characters and cannot be passed to the MCP server")
			return
		}
		if sid := r.Header.Get("Mcp-Session-Id"); sid != "" && !sessions.allow(sid, g.Subject) {
			// As for a session that does not exist (MCP: 404, and the
			// client starts a new one): its existence is not disclosed.
			c.log.WarnContext(r.Context(), "gateway: MCP session of another user refused", "sub", g.Subject)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}`+"\n")
			return
		}
		rp.ServeHTTP(w, r)
	})
}

func grantOfRequest(r *http.Request) *mcpauth.Grant {
	g, _ := mcpauth.GrantFromContext(r.Context())
	return g
}

// setIdentity removes the client's credentials and every header in the
// X-Mcp-Auth- namespace, however spelled, then sets the grant's headers.
// Authorization goes because MCP forbids token passthrough; Cookie because
// this origin's cookies are the authorization server's (its sign-in
// session) and MCP authorizes with bearer tokens only.
func setIdentity(h http.Header, g *mcpauth.Grant) {
	for k := range h {
		n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		if n == "authorization" || n == "cookie" || strings.HasPrefix(n, identityPrefix) {
			delete(h, k)
		}
	}
	h.Set(headerSubject, g.Subject)
	h.Set(headerClientID, g.ClientID)
	h.Set(headerScopes, strings.Join(g.Scopes, " "))
	h.Set(headerGrantID, g.GrantID)
}

// joinQuery appends the request's query to the upstream URL's.
func joinQuery(base, req string) string {
	switch {
	case base == "":
		return req
	case req == "":
		return base
	}
	return base + "&" + req
}

// upstreamError answers a request the upstream did not: 504 when it did
// not start its response within -upstream-header-timeout, 502 otherwise
// (refused, unreachable, reset), with a JSON body; nothing when the
// client has gone.
func upstreamError(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger) {
	if r.Context().Err() != nil {
		return // the client went away (or the server is shutting down)
	}
	status, desc := http.StatusBadGateway, "the MCP server behind this gateway cannot be reached"
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !isDialError(err) {
		status, desc = http.StatusGatewayTimeout, "the MCP server behind this gateway did not answer in time"
	}
	log.WarnContext(r.Context(), "gateway: upstream MCP server failed", "status", status, "err", err)
	w.Header().Set("Retry-After", "5")
	writeGatewayError(w, status, "upstream_unavailable", desc)
}

// writeGatewayError answers with the gateway's JSON error, shaped like
// OAuth's (RFC 6749 §5.2) as the middleware's refusals are.
func writeGatewayError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// headerSafe reports whether v can be a header field value as is: no
// control characters (RFC 9110 §5.5), so no header can be injected.
func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// isDialError reports a failure to connect (a dial timeout is a 502: the
// server is not there, rather than slow).
func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// newRemoteGatewayApp is -remote-issuer mode: no authorization server and
// no store, only the protected resource: its metadata (RFC 9728) naming
// the remote issuer, /mcp proxied to -upstream, and /healthz.
func newRemoteGatewayApp(o *options, log *slog.Logger) (*app, error) {
	g := o.gw
	resource := g.resource
	if resource == "" {
		resource = o.issuer + "/mcp" // o.issuer: http://<addr>, the port fixed by run
	}
	ru, _ := url.Parse(resource)
	prmURL, err := mcpauth.ProtectedResourceMetadataURL(resource)
	if err != nil {
		return nil, err
	}
	iss, _ := url.Parse(g.remoteIssuer)
	a := &app{
		issuer:      g.remoteIssuer,
		mcpURL:      resource,
		prmURL:      prmURL,
		metadataURL: iss.Scheme + "://" + iss.Host + "/.well-known/oauth-authorization-server" + iss.EscapedPath(),
	}
	a.streams, a.endStreams = context.WithCancel(context.Background())
	a.closers = append(a.closers, a.endStreams)

	mcpPath := ru.EscapedPath()
	pattern := mcpPath
	if mcpPath == "" || mcpPath == "/" {
		mcpPath, pattern = "/", "/{$}"
	}
	a.streaming = func(r *http.Request) bool { return r.Method == http.MethodGet && r.URL.Path == mcpPath }

	// With credentials, the verifier follows the issuer's revocation feed.
	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{Issuer: g.remoteIssuer, Audience: resource, Logger: log, Metrics: o.metricsRegisterer(),
		FeedClientID: g.remoteClientID, FeedClientSecret: g.remoteClientSecret, FeedFailClosed: g.feedFailClosed})
	if err != nil {
		return nil, fmt.Errorf("-remote-issuer: %w", err)
	}
	a.closers = append(a.closers, v.Close)
	gc := gatewayConfig{
		verifier: v, resource: resource, upstream: g.upstream, challengeScopes: o.scopes, toolScopes: g.toolScopes,
		maxSessions: g.maxSessions, trustForwardedFor: o.trustForwardedFor, dialTimeout: g.dialTimeout, headerTimeout: g.headerTimeout, log: log,
	}
	if g.remoteClientID != "" {
		gc.introspector = newRemoteIntrospector(g.remoteIssuer, g.remoteClientID, g.remoteClientSecret, g.introspectionTTL, log)
	}
	h, err := newGatewayHandler(gc)
	if err != nil {
		a.close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+pattern, a.streamUntilShutdown(h))
	mux.Handle(pattern, h)
	prm := mcpauth.ProtectedResourceMetadataHandler(mcpauth.ProtectedResource{
		Resource:             resource,
		AuthorizationServers: []string{g.remoteIssuer},
		ScopesSupported:      o.scopes,
		ResourceName:         "mcp-auth-server gateway",
	})
	prmPath, _ := mcpauth.ProtectedResourceMetadataPath(resource)
	mux.Handle(prmPath, prm)
	if prmPath != mcpauth.ProtectedResourceMetadataWellKnown {
		mux.Handle(mcpauth.ProtectedResourceMetadataWellKnown, prm)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		if st := v.RevocationFeedStatus(); st.Enabled && !st.Connected {
			_, _ = io.WriteString(w, `{"status":"degraded","error":"the revocation feed is down"}`+"\n")
			return
		}
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	if pattern != "/{$}" {
		mux.HandleFunc("GET /{$}", a.home)
	}
	a.handler = mux
	return a, nil
}

// printGatewayBanner is printBanner for -remote-issuer mode.
func printGatewayBanner(w io.Writer, o *options, a *app) {
	fmt.Fprintf(w, "mcp-auth-server is running as a gateway\n")
	fmt.Fprintf(w, "  Authorization:      %s (remote issuer)\n", a.issuer)
	fmt.Fprintf(w, "  MCP server:         %s\n", a.mcpURL)
	fmt.Fprintf(w, "  Resource metadata:  %s\n", a.prmURL)
	fmt.Fprintf(w, "  Upstream:           %s\n", o.gw.upstream.Redacted())
	if o.gw.remoteClientID != "" {
		fmt.Fprintf(w, "  Revocation check:   RFC 7662 introspection as %s, answers reused %v\n", o.gw.remoteClientID, o.gw.introspectionTTL)
		fmt.Fprintf(w, "  Revocation feed:    %s%s (as %s)\n", strings.TrimSuffix(a.issuer, "/"), mcpauth.RevocationFeedPath, o.gw.remoteClientID)
	}
	fmt.Fprintf(w, "  Health:             %s\n", originOf(a.mcpURL)+"/healthz")
	fmt.Fprintf(w, "The authorization server must accept %s as a resource (its -resource flag).\n", a.mcpURL)
	fmt.Fprintf(w, "Connect an MCP client to %s.\n", a.mcpURL)
}

// localMCPHandler is /mcp beside the authorization server: the demo MCP
// server or, with -upstream, the gateway, verifying tokens in process.
func localMCPHandler(o *options, srv *mcpauth.Server, resource string, log *slog.Logger) (http.Handler, func(), error) {
	if o.gw.upstream == nil {
		return demoMCPHandler(srv, resource, o.scopes, log, o.metricsRegisterer())
	}
	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{Local: srv, Audience: resource, Logger: log, Metrics: o.metricsRegisterer()})
	if err != nil {
		return nil, nil, err
	}
	h, err := newGatewayHandler(gatewayConfig{
		verifier: v, resource: resource, upstream: o.gw.upstream, challengeScopes: o.scopes, toolScopes: o.gw.toolScopes,
		maxSessions: o.gw.maxSessions, trustForwardedFor: o.trustForwardedFor, dialTimeout: o.gw.dialTimeout, headerTimeout: o.gw.headerTimeout, log: log,
	})
	if err != nil {
		v.Close()
		return nil, nil, err
	}
	return h, v.Close, nil
}

// mcpResourceName is resource_name in the /mcp resource metadata.
func mcpResourceName(o *options) string {
	if o.gw.upstream != nil {
		return "mcp-auth-server gateway"
	}
	return "mcp-auth-server demo MCP server"
}
