package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mcpauth/mcpauth/limits"
	authstore "github.com/mcpauth/mcpauth/store"

	"github.com/mcpauth/mcpauth"
	"github.com/prometheus/client_golang/prometheus"
)

// usageError is a bad flag or environment value: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// envPrefix prefixes the environment variable of every flag: -grantex-url
// is also read from MCPAUTH_GRANTEX_URL.
const envPrefix = "MCPAUTH_"

// envName is the environment variable that gives flag name its default.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// options is the parsed command line.
type options struct {
	addr           string
	issuer         string
	store          string
	scopes         []string
	users          []userFlag
	grantexURL     string
	grantexAPIKey  string
	grantexAgentID string
	grantexIssuer  string
	grantexJWKSURL string
	rateLimits     *limits.RateLimits
	demoMCP        bool
	logFormat      string
	logLevel       string
	staticClients  []authstore.Client
	// auditSecret is the operator secret (-operator-secret, or its
	// deprecated alias -audit-secret): the admin API and the audit stream.
	auditSecret string
	// introspectors are the resource servers' client ids that may
	// introspect every token (Config.Introspectors).
	introspectors []string
	// operators are the -user names that may be granted audit:read.
	operators []string
	// brand is what the sign-in and consent pages show (Config.ConsentUI).
	brand mcpauth.ConsentUI
	// maxStateLength is Config.MaxStateLength.
	maxStateLength int
	// feedMaxStreams is Config.RevocationFeed.MaxStreams.
	feedMaxStreams int
	// storeKey encrypts signing and session keys in the store (-store-key).
	storeKey []byte
	// bodyReadTimeout bounds the arrival of a request body (0: unbounded).
	bodyReadTimeout time.Duration
	// shutdownTimeout bounds how long in-flight requests may finish.
	shutdownTimeout time.Duration
	// trustForwardedFor: client IPs come from X-Forwarded-For (behind a proxy).
	trustForwardedFor bool
	// Store bounds, as mcpauth.Config takes them (negative: disabled).
	storeTimeout       time.Duration
	refreshRetryWindow time.Duration
	clientIdleExpiry   time.Duration
	maxPending         int
	tokenCache         int
	// maxDelegationDepth is Config.MaxDelegationDepth (-1: token exchange off).
	maxDelegationDepth int
	// defaultBudget is Config.DefaultBudget (0: grants have no budget).
	defaultBudget int64
	// Login bounds: concurrent password checks, their wait, per-account back-off.
	passwordCheckConcurrency int
	passwordCheckWait        time.Duration
	loginBackoff             *limits.LoginBackoff
	// issuerFromAddr: the issuer is the default, derived from -addr (and
	// fixed up once the listener knows its port when -addr ends in :0).
	issuerFromAddr bool
	// Upstream sign-in (authn/oidc, authn/github) and the password form.
	oidc          oidcOptions
	github        githubOptions
	passwordLogin bool
	// signinKey seals the upstream sign-in cookies; nil: random per run.
	signinKey []byte
	// signinSessionTTL is how long an upstream sign-in lasts here.
	signinSessionTTL time.Duration
	// gw is gateway mode: -upstream, -remote-issuer, -resource (gateway.go).
	gw gatewayOptions
	// metricsAddr is the Prometheus listener ("": none); metrics is its
	// registry, made by runWith (metrics.go).
	metricsAddr string
	metrics     *prometheus.Registry
}

// oidcOptions are the -oidc-* flags ("" issuer: no OIDC provider).
type oidcOptions struct {
	issuer, clientID, clientSecret, name string
	allowedDomains                       []string
}

// githubOptions are the -github-* flags ("" client id: no GitHub sign-in).
type githubOptions struct {
	clientID, clientSecret, org, baseURL string
}

type userFlag struct{ name, password string }

// listFlag is a repeatable flag. Values from the environment (comma
// separated) are replaced, not extended, by values on the command line.
type listFlag struct {
	vals    []string
	fromEnv bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }
func (l *listFlag) Set(v string) error {
	if l.fromEnv {
		l.vals, l.fromEnv = nil, false
	}
	l.vals = append(l.vals, v)
	return nil
}

const defaultScopes = "tools:read tools:execute resources:read"

// parseFlags reads args, with defaults from getenv (MCPAUTH_<FLAG>). It
// returns flag.ErrHelp after printing usage for -h.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o, err := parseFlagValues(args, getenv, stderr)
	return o, nameEnvSource(err, args, getenv)
}

// flagInError is the flag a validation error starts with ("-rate-limit: …").
var flagInError = regexp.MustCompile(`^-([a-z0-9][a-z0-9-]*)\b`)

// nameEnvSource makes an error about a flag whose value came from the
// environment name the variable the operator actually set.
func nameEnvSource(err error, args []string, getenv func(string) string) error {
	var ue *usageError
	if !errors.As(err, &ue) {
		return err
	}
	m := flagInError.FindStringSubmatch(ue.msg)
	if m == nil || getenv(envName(m[1])) == "" {
		return err
	}
	for _, a := range args {
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && name == m[1] {
			return err // the command line set it: flags win
		}
	}
	return usagef("%s (set by %s)", ue.msg, envName(m[1]))
}

func parseFlagValues(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("mcp-auth-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by the caller on one line
	var (
		addr        = fs.String("addr", "127.0.0.1:8080", "listen address `host:port`")
		issuer      = fs.String("issuer", "", "issuer `URL` (default http:// + addr); https unless on loopback")
		store       = fs.String("store", "sqlite:./mcpauth.db", "state store: memory:, sqlite:<path> or postgres://…")
		scopes      = fs.String("scopes", defaultScopes, "space-separated scopes clients may request (audit:read and admin are always added)")
		users       listFlag
		gxURL       = fs.String("grantex-url", "", "Grantex base `URL`: managed mode")
		gxKey       = fs.String("grantex-api-key", "", "Grantex developer API key (prefer the environment variable)")
		gxAgent     = fs.String("grantex-agent-id", "", "Grantex agent id")
		gxIssuer    = fs.String("grantex-issuer", "", "iss of Grantex tokens (default the Grantex URL)")
		gxJWKS      = fs.String("grantex-jwks-url", "", "Grantex JWKS `URL` (default <grantex-url>/.well-known/jwks.json)")
		rateLimit   = fs.String("rate-limit", "default", "rate limits: default, off, or endpoint=N/period,… (endpoints: authorize, token, introspect, revoke, register, login, default)")
		demoMCP     = fs.Bool("demo-mcp", true, "serve the demo MCP server at /mcp")
		logFormat   = fs.String("log-format", "text", "log format: text or json")
		logLevel    = fs.String("log-level", "info", "log level: debug, info, warn or error")
		statics     listFlag
		trustXFF    = fs.Bool("trust-forwarded-for", false, "rate-limit by the last X-Forwarded-For hop: set only behind a reverse proxy you control")
		maxState    = fs.Int("max-state-length", mcpauth.DefaultMaxStateLength, "longest state `bytes` accepted at /authorize (echoed to the client)")
		feedStreams = fs.Int("revocation-feed-max-streams", mcpauth.DefaultRevocationFeedStreams, "most revocation feed streams served at once (`count`); beyond it 503")
		appName     = fs.String("app-name", "MCP Auth Server", "the name on the sign-in and consent pages")
		logoURL     = fs.String("logo-url", "", "an https `URL` of a logo shown on the sign-in and consent pages (48×48)")
		privacyURL  = fs.String("privacy-url", "", "an https `URL` of the privacy policy, linked from the pages")
		termsURL    = fs.String("terms-url", "", "an https `URL` of the terms of service, linked from the pages")
		auditSecret = fs.String("audit-secret", "", "deprecated alias of -operator-secret")
		opSecret    = fs.String("operator-secret", "", "operator secret accepted by the admin API (/admin/, the clients and grants commands) and the audit stream (at least 16 characters; prefer the environment variable)")

		storeTimeout = fs.Duration("store-timeout", 5*time.Second, "deadline of every store call; a store slower than this gives 503 with Retry-After")
		retryWindow  = fs.Duration("refresh-retry-window", 10*time.Second, "how long the same client may retry a refresh with the token it just rotated (0: never, reuse ends the grant)")
		idleExpiry   = fs.Duration("client-idle-expiry", 90*24*time.Hour, "delete dynamically registered clients unused this long (0: never)")
		maxPending   = fs.Int("max-pending", 10000, "most authorization requests waiting for sign-in or consent; beyond it the oldest are dropped")
		tokenCache   = fs.Int("verified-token-cache", 10000, "most verified access tokens the server keeps for /introspect (revocation is still checked every call); 0 disables")
		pwChecks     = fs.Int("password-check-concurrency", 0, "password checks (argon2id, 19 MiB each) run at once; 0: one per CPU, at most 4")
		pwWait       = fs.Duration("password-check-wait", 2*time.Second, "how long a sign-in waits for a free password check before 503 (negative: no wait)")
		backoff      = fs.String("login-backoff", "default", "per-account back-off of failed sign-ins: default (free=5,base=1s,max=15m), off, or free=N,base=…,max=…")
		storeKey     = fs.String("store-key", "", "32-byte `key` (base64 or hex) encrypting signing and session keys in the store (default for SQLite: generated into <db>.key, mode 0600; prefer the environment variable)")
		bodyTimeout  = fs.Duration("body-read-timeout", 30*time.Second, "how long a request body may take to arrive before the connection is cut (0 disables; streams are exempt)")
		stopTimeout  = fs.Duration("shutdown-timeout", 10*time.Second, "on SIGTERM/SIGINT, how long in-flight requests may take to finish")
	)
	fs.Var(&users, "user", "a sign-in account `name:password`; repeatable (default: admin with a random password, printed at start)")
	fs.Var(&statics, "static-client", "a pre-registered public client `id:redirect-uri`; repeatable")
	var introspectors listFlag
	defaultBudget := fs.Int64("default-budget", 0, "budget allocated to every grant at consent, spent by tool calls (the demo's add costs 1); 0: none")
	var machines clientFlag
	fs.Var(&machines, "client", "a machine client `ID:SECRET:SCOPES` for the client_credentials grant (split at the first two colons; SCOPES comma separated); repeatable")
	maxDelegation := fs.Int("max-delegation-depth", mcpauth.DefaultMaxDelegationDepth, "how deep agents may delegate by token exchange (RFC 8693), at most 10 (0: token exchange off)")
	oidcIssuer := fs.String("oidc-issuer", "", "OpenID Connect provider's issuer `URL`: offer \"Continue with <-oidc-name>\" (redirect URL <issuer>/oidc/callback)")
	oidcClientID := fs.String("oidc-client-id", "", "client id registered at the -oidc-issuer")
	oidcSecret := fs.String("oidc-client-secret", "", "client secret at the -oidc-issuer (prefer the environment variable)")
	oidcName := fs.String("oidc-name", "", "the OIDC provider's name on the sign-in button (default from the issuer: Google, Okta, Microsoft, or its host)")
	var oidcDomains listFlag
	fs.Var(&oidcDomains, "oidc-allowed-domain", "admit only verified e-mails in this `domain`; repeatable (default: anyone the provider signs in)")
	ghClientID := fs.String("github-client-id", "", "GitHub OAuth app client id: offer \"Continue with GitHub\" (callback URL <issuer>/github/callback)")
	ghSecret := fs.String("github-client-secret", "", "GitHub OAuth app client secret (prefer the environment variable)")
	ghOrg := fs.String("github-org", "", "admit only active members of this GitHub `organization`")
	ghURL := fs.String("github-url", "", "GitHub Enterprise Server `URL` (default https://github.com)")
	passwordLogin := fs.Bool("password-login", true, "offer the username/password form (-user); false: upstream sign-in only")
	signinTTL := fs.Duration("signin-session-ttl", 12*time.Hour, "how long an upstream sign-in lasts before the provider is asked again (1m to 720h)")
	signinKey := fs.String("signin-cookie-key", "", "base64 key (32+ bytes) sealing the upstream sign-in cookies, the same on every replica (default: random per run; prefer the environment variable)")
	fs.Var(&introspectors, "introspector", "`client_id` of a confidential client (a resource server) that may introspect every token; repeatable (default: none, each client sees only its own tokens)")
	var operators listFlag
	fs.Var(&operators, "operator", "a -user `name` that may be granted audit:read (the audit stream) and admin (the admin API); repeatable (default: none)")
	gwFlags := defineGatewayFlags(fs)
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics at http://`host:port`/metrics, a listener of its own (default: off)")
	usage := func() {
		fmt.Fprintf(stderr, "Usage: mcp-auth-server [flags]\n\nAn OAuth 2.1 authorization server with a demo MCP server, or with -upstream a gateway protecting yours.\nEvery flag can also be set with MCPAUTH_<FLAG> (e.g. MCPAUTH_GRANTEX_API_KEY); flags win.\n\nFlags:\n")
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fs.Usage = func() {} // a bad flag gets one line, not the whole list

	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if v == "" || envErr != nil {
			return
		}
		var err error
		if l, ok := f.Value.(*listFlag); ok {
			for _, part := range strings.Split(v, ",") {
				if part = strings.TrimSpace(part); part != "" {
					l.vals = append(l.vals, part)
				}
			}
			l.fromEnv = true
		} else {
			err = f.Value.Set(v)
		}
		if err != nil {
			envErr = usagef("%s=%q: %v", envName(f.Name), v, unwrapFlagErr(err, f.Value))
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
			return nil, err
		}
		return nil, usagef("%v (see -h)", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q (see -h)", fs.Arg(0))
	}

	o := &options{
		addr: *addr, issuer: *issuer, store: *store, demoMCP: *demoMCP,
		grantexURL: *gxURL, grantexAPIKey: *gxKey, grantexAgentID: *gxAgent,
		grantexIssuer: *gxIssuer, grantexJWKSURL: *gxJWKS,
		logFormat: *logFormat, logLevel: *logLevel, auditSecret: *auditSecret,
		trustForwardedFor: *trustXFF,
		storeTimeout:      *storeTimeout, refreshRetryWindow: *retryWindow,
		clientIdleExpiry: *idleExpiry, maxPending: *maxPending, tokenCache: *tokenCache,
		bodyReadTimeout: *bodyTimeout, shutdownTimeout: *stopTimeout,
	}
	if o.metricsAddr = *metricsAddr; o.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(o.metricsAddr); err != nil {
			return nil, usagef("-metrics-addr %q: want host:port", o.metricsAddr)
		}
	}
	if o.maxDelegationDepth = *maxDelegation; o.maxDelegationDepth < 0 || o.maxDelegationDepth > mcpauth.MaxDelegationDepthLimit {
		return nil, usagef("-max-delegation-depth %d: must be 0 (off) to %d", o.maxDelegationDepth, mcpauth.MaxDelegationDepthLimit)
	} else if o.maxDelegationDepth == 0 {
		o.maxDelegationDepth = -1
	}
	if o.defaultBudget = *defaultBudget; o.defaultBudget < 0 {
		return nil, usagef("-default-budget %d: must not be negative", o.defaultBudget)
	}
	if err := o.setBrand(*appName, *logoURL, *privacyURL, *termsURL); err != nil {
		return nil, err
	}
	o.passwordCheckConcurrency, o.passwordCheckWait = *pwChecks, *pwWait
	if o.passwordCheckConcurrency < 0 {
		return nil, usagef("-password-check-concurrency: must not be negative")
	}
	var err error
	if o.auditSecret, err = operatorSecret(*opSecret, *auditSecret, stderr); err != nil {
		return nil, err
	}
	if o.loginBackoff, err = limits.ParseLoginBackoff(*backoff); err != nil {
		return nil, usagef("-login-backoff: %v", err)
	}
	if o.maxStateLength = *maxState; o.maxStateLength < 1 {
		return nil, usagef("-max-state-length %d: want a positive number of bytes", *maxState)
	}
	if o.feedMaxStreams = *feedStreams; o.feedMaxStreams < 1 {
		return nil, usagef("-revocation-feed-max-streams %d: want a positive count", *feedStreams)
	}
	if *storeKey != "" {
		k, err := parseStoreKey(*storeKey)
		if err != nil {
			return nil, usagef("-store-key: %v", err)
		}
		o.storeKey = k
	}
	if o.bodyReadTimeout < 0 {
		return nil, usagef("-body-read-timeout: must not be negative")
	}
	if o.shutdownTimeout <= 0 {
		return nil, usagef("-shutdown-timeout: must be positive")
	}
	o.gw.remoteIssuer = *gwFlags.remoteIssuer // check lets a gateway's address be any
	if err := o.check(*scopes, *rateLimit, users.vals, statics.vals); err != nil {
		return nil, err
	}
	o.staticClients = append(o.staticClients, machines.clients...)
	for _, id := range introspectors.vals {
		switch {
		case id == "":
			return nil, usagef("-introspector: want a client_id")
		case slices.ContainsFunc(o.staticClients, func(c authstore.Client) bool { return c.ID == id }):
			return nil, usagef("-introspector %q: a -static-client is public and cannot authenticate; register a confidential client", id)
		}
	}
	o.introspectors = introspectors.vals
	if err := o.checkOperators(operators.vals); err != nil {
		return nil, err
	}
	if err := o.checkStoreBounds(); err != nil {
		return nil, err
	}
	o.oidc = oidcOptions{issuer: *oidcIssuer, clientID: *oidcClientID, clientSecret: *oidcSecret, name: *oidcName, allowedDomains: oidcDomains.vals}
	o.github = githubOptions{clientID: *ghClientID, clientSecret: *ghSecret, org: *ghOrg, baseURL: *ghURL}
	o.passwordLogin = *passwordLogin
	if o.signinSessionTTL = *signinTTL; o.signinSessionTTL < time.Minute || o.signinSessionTTL > 720*time.Hour {
		return nil, usagef("-signin-session-ttl %v: want 1m to 720h", o.signinSessionTTL)
	}
	if err := o.checkSignIn(*signinKey); err != nil {
		return nil, err
	}
	if err := o.checkGateway(gwFlags); err != nil {
		return nil, err
	}
	return o, nil
}

// checkStoreBounds validates the store bounds and maps the flags' "0: never"
// to mcpauth.Config's negative values.
func (o *options) checkStoreBounds() error {
	switch {
	case o.storeTimeout <= 0:
		return usagef("-store-timeout %v: must be positive", o.storeTimeout)
	case o.refreshRetryWindow < 0:
		return usagef("-refresh-retry-window %v: must not be negative", o.refreshRetryWindow)
	case o.refreshRetryWindow > time.Minute:
		return usagef("-refresh-retry-window %v: at most 1m (reuse detection is off while it lasts)", o.refreshRetryWindow)
	case o.clientIdleExpiry < 0:
		return usagef("-client-idle-expiry %v: must not be negative", o.clientIdleExpiry)
	case o.maxPending <= 0:
		return usagef("-max-pending %d: must be positive", o.maxPending)
	case o.tokenCache < 0:
		return usagef("-verified-token-cache %d: must not be negative", o.tokenCache)
	}
	if o.tokenCache == 0 {
		o.tokenCache = -1
	}
	if o.refreshRetryWindow == 0 {
		o.refreshRetryWindow = -1
	}
	if o.clientIdleExpiry == 0 {
		o.clientIdleExpiry = -1
	}
	return nil
}

// checkSignIn validates the upstream sign-in flags.
func (o *options) checkSignIn(key string) error {
	oi := &o.oidc
	switch {
	case oi.issuer == "" && (oi.clientID != "" || oi.clientSecret != "" || oi.name != "" || len(oi.allowedDomains) > 0):
		return usagef("-oidc-client-id, -oidc-client-secret, -oidc-name and -oidc-allowed-domain need -oidc-issuer")
	case oi.issuer != "" && oi.clientID == "":
		return usagef("-oidc-issuer needs -oidc-client-id")
	case oi.issuer != "":
		if u, err := url.Parse(oi.issuer); err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && !isLoopback(u.Hostname())) {
			return usagef("-oidc-issuer %q: want an https URL", oi.issuer)
		}
		for _, d := range oi.allowedDomains {
			if d == "" || strings.ContainsAny(d, "@/ ") || !strings.Contains(d, ".") {
				return usagef("-oidc-allowed-domain %q: want a domain such as example.com", d)
			}
		}
		if len(oi.name) > 64 {
			return usagef("-oidc-name: at most 64 characters")
		}
		if oi.name == "" {
			oi.name = providerName(oi.issuer)
		}
	}
	gh := o.github
	switch {
	case gh.clientID == "" && (gh.clientSecret != "" || gh.org != "" || gh.baseURL != ""):
		return usagef("-github-client-secret, -github-org and -github-url need -github-client-id")
	case gh.clientID != "" && gh.clientSecret == "":
		return usagef("-github-client-id needs -github-client-secret (or %s)", envName("github-client-secret"))
	case gh.baseURL != "":
		if u, err := url.Parse(gh.baseURL); err != nil || !u.IsAbs() || u.Host == "" {
			return usagef("-github-url %q: want an absolute URL", gh.baseURL)
		}
	}
	upstream := o.oidc.issuer != "" || gh.clientID != ""
	switch {
	case !o.passwordLogin && !upstream:
		return usagef("-password-login=false needs -oidc-issuer or -github-client-id: nobody could sign in")
	case !o.passwordLogin && len(o.users) > 0:
		return usagef("-user and -password-login=false contradict each other")
	}
	if key != "" {
		k, err := base64.StdEncoding.DecodeString(key)
		if err != nil {
			k, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(key, "="))
		}
		if err != nil || len(k) < 32 {
			return usagef("-signin-cookie-key: want at least 32 random bytes, base64-encoded (openssl rand -base64 32)")
		}
		o.signinKey = k
	}
	return nil
}

// providerName is the sign-in button's default name for an issuer.
func providerName(issuer string) string {
	u, _ := url.Parse(issuer)
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "accounts.google.com":
		return "Google"
	case strings.HasSuffix(host, ".okta.com"), strings.HasSuffix(host, ".oktapreview.com"):
		return "Okta"
	case host == "login.microsoftonline.com", strings.HasSuffix(host, ".ciamlogin.com"):
		return "Microsoft"
	}
	return host
}

// setBrand validates the page branding: a short name, and https links
// (http only on a loopback host, for trying it out).
func (o *options) setBrand(name, logo, privacy, terms string) error {
	if name = strings.TrimSpace(name); name == "" || utf8.RuneCountInString(name) > 64 || strings.ContainsFunc(name, unicode.IsControl) {
		return usagef("-app-name %q: want 1 to 64 printable characters", name)
	}
	o.brand = mcpauth.ConsentUI{AppName: name}
	for _, f := range []struct {
		flag, val string
		dst       *string
	}{{"logo-url", logo, &o.brand.AppLogo}, {"privacy-url", privacy, &o.brand.PrivacyURL}, {"terms-url", terms, &o.brand.TermsURL}} {
		if f.val == "" {
			continue
		}
		u, err := url.Parse(f.val)
		if err != nil || u.Host == "" || u.User != nil || !(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
			return usagef("-%s %q: want an https URL", f.flag, f.val)
		}
		*f.dst = u.String()
	}
	return nil
}

// unwrapFlagErr turns strconv's "parse error" into what the flag wants.
func unwrapFlagErr(err error, v flag.Value) error {
	if !errors.Is(err, strconv.ErrSyntax) && !errors.Is(err, strconv.ErrRange) && err.Error() != "parse error" {
		return err
	}
	want := "a valid value"
	if g, ok := v.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool:
			want = "true or false"
		case time.Duration:
			want = "a duration such as 30s, 5m or 1h"
		case int, int64, uint, uint64:
			want = "a whole number"
		}
	}
	return fmt.Errorf("not a valid value: want %s", want)
}

// check validates and converts the raw flag values.
func (o *options) check(scopes, rateLimit string, users, statics []string) error {
	host, port, err := net.SplitHostPort(o.addr)
	if err != nil {
		return usagef("-addr %q: want host:port", o.addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return usagef("-addr %q: bad port", o.addr)
	}
	explicit := o.issuer != ""
	if !explicit {
		o.issuerFromAddr = true
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "localhost" // listening on every interface: loopback is one of them
		}
		o.issuer = "http://" + net.JoinHostPort(host, port)
	}
	if err := checkIssuer(o.issuer); err != nil && (explicit || o.gw.remoteIssuer == "") {
		if explicit {
			return usagef("-issuer %q: %v", o.issuer, err)
		}
		return usagef("-issuer is required with -addr %q: %v", o.addr, err)
	}

	if _, _, err := parseStore(o.store); err != nil {
		return err
	}

	o.scopes = strings.Fields(scopes)
	if len(o.scopes) == 0 {
		return usagef("-scopes: at least one scope is required")
	}
	for _, s := range o.scopes {
		if !validScope(s) {
			return usagef("-scopes: %q is not a valid scope token", s)
		}
	}

	seen := map[string]bool{}
	for _, u := range users {
		name, pw, ok := strings.Cut(u, ":")
		if !ok || name == "" || pw == "" {
			return usagef("-user %q: want name:password", redactUser(u))
		}
		if strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) || !utf8.ValidString(name) {
			return usagef("-user %q: the name may not contain spaces or control characters", name)
		}
		if seen[name] {
			return usagef("-user: %q given twice", name)
		}
		seen[name] = true
		o.users = append(o.users, userFlag{name, pw})
	}

	if o.rateLimits, err = limits.ParseRateLimits(rateLimit); err != nil {
		return usagef("-rate-limit: %v", err)
	}
	switch o.logFormat {
	case "text", "json":
	default:
		return usagef("-log-format %q: want text or json", o.logFormat)
	}
	switch o.logLevel {
	case "debug", "info", "warn", "error":
	default:
		return usagef("-log-level %q: want debug, info, warn or error", o.logLevel)
	}

	byID := map[string]int{}
	for _, sc := range statics {
		id, redirect, ok := strings.Cut(sc, ":")
		if !ok || id == "" || redirect == "" {
			return usagef("-static-client %q: want id:redirect-uri", sc)
		}
		if u, err := url.Parse(redirect); err != nil || !u.IsAbs() {
			return usagef("-static-client %q: %q is not an absolute URI", sc, redirect)
		}
		if i, ok := byID[id]; ok {
			o.staticClients[i].RedirectURIs = append(o.staticClients[i].RedirectURIs, redirect)
			continue
		}
		byID[id] = len(o.staticClients)
		o.staticClients = append(o.staticClients, authstore.Client{
			ID:             id,
			ClientMetadata: authstore.ClientMetadata{Name: id, RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none"},
		})
	}

	gx := []string{o.grantexURL, o.grantexAPIKey, o.grantexAgentID}
	switch {
	case slices.Equal(gx, []string{"", "", ""}):
		if o.grantexIssuer != "" || o.grantexJWKSURL != "" {
			return usagef("-grantex-issuer and -grantex-jwks-url need -grantex-url")
		}
	case o.grantexURL == "":
		return usagef("managed mode needs -grantex-url (with -grantex-api-key and -grantex-agent-id)")
	case o.grantexAPIKey == "":
		return usagef("managed mode needs -grantex-api-key (or %s)", envName("grantex-api-key"))
	case o.grantexAgentID == "":
		return usagef("managed mode needs -grantex-agent-id")
	}
	if len(o.auditSecret) > 0 && len(o.auditSecret) < 16 {
		return usagef("-audit-secret: use at least 16 characters")
	}
	return nil
}

// checkIssuer applies RFC 8414 §2 as mcpauth.NewServer does, so a bad
// issuer is reported before any store is opened.
func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "" {
		return errors.New("not an absolute URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.Contains(issuer, "#") || u.User != nil {
		return errors.New("must not have a query, fragment or user info")
	}
	if strings.HasSuffix(u.Path, "/") {
		return errors.New("must not end with a slash")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return errors.New("must use https (http is allowed only on a loopback host)")
		}
	default:
		return errors.New("must use https")
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validScope is RFC 6749 §3.3: 1*( %x21 / %x23-5B / %x5D-7E ).
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// storeKind is the parsed -store value.
type storeKind int

const (
	storeMemory storeKind = iota
	storeSQLite
	storePostgres
)

// parseStore splits -store into its kind and location.
func parseStore(s string) (storeKind, string, error) {
	switch {
	case s == "memory:" || s == "memory":
		return storeMemory, "", nil
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(s, "sqlite:")
		if path == "" {
			return 0, "", usagef("-store %q: want sqlite:<path>", s)
		}
		return storeSQLite, path, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		if _, err := url.Parse(s); err != nil {
			return 0, "", usagef("-store: the PostgreSQL URL does not parse")
		}
		return storePostgres, s, nil
	}
	return 0, "", usagef("-store %q: want memory:, sqlite:<path> or postgres://…", redactDSN(s))
}

// redactDSN hides a password in a connection URL.
func redactDSN(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}

// redactUser hides the password part of a -user value in messages.
func redactUser(u string) string {
	name, _, ok := strings.Cut(u, ":")
	if !ok {
		return u
	}
	return name + ":…"
}

// checkOperators accepts -operator names of sign-in accounts: the -user
// names, or admin, the account made when there is no -user.
func (o *options) checkOperators(names []string) error {
	for _, name := range names {
		known := len(o.users) == 0 && name == "admin"
		for _, u := range o.users {
			known = known || u.name == name
		}
		if !known {
			return usagef("-operator %q: not a -user account", name)
		}
		if !slices.Contains(o.operators, name) {
			o.operators = append(o.operators, name)
		}
	}
	return nil
}
