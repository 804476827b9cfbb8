package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth"
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
	rateLimits     *mcpauth.RateLimits
	demoMCP        bool
	logFormat      string
	logLevel       string
	staticClients  []mcpauth.Client
	auditSecret    string
	// storeKey encrypts signing and session keys in the store (-store-key).
	storeKey []byte
	// bodyReadTimeout bounds the arrival of a request body (0: unbounded).
	bodyReadTimeout time.Duration
	// shutdownTimeout bounds how long in-flight requests may finish.
	shutdownTimeout time.Duration
	// trustForwardedFor: client IPs come from X-Forwarded-For (behind a proxy).
	trustForwardedFor bool
	// issuerFromAddr: the issuer is the default, derived from -addr (and
	// fixed up once the listener knows its port when -addr ends in :0).
	issuerFromAddr bool
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
	fs := flag.NewFlagSet("mcp-auth-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by the caller on one line
	var (
		addr        = fs.String("addr", "127.0.0.1:8080", "listen address `host:port`")
		issuer      = fs.String("issuer", "", "issuer `URL` (default http:// + addr); https unless on loopback")
		store       = fs.String("store", "sqlite:./mcpauth.db", "state store: memory:, sqlite:<path> or postgres://…")
		scopes      = fs.String("scopes", defaultScopes, "space-separated scopes clients may request (audit:read is always added)")
		users       listFlag
		gxURL       = fs.String("grantex-url", "", "Grantex base `URL`: managed mode")
		gxKey       = fs.String("grantex-api-key", "", "Grantex developer API key (prefer the environment variable)")
		gxAgent     = fs.String("grantex-agent-id", "", "Grantex agent id")
		gxIssuer    = fs.String("grantex-issuer", "", "iss of Grantex tokens (default the Grantex URL)")
		gxJWKS      = fs.String("grantex-jwks-url", "", "Grantex JWKS `URL` (default <grantex-url>/.well-known/jwks.json)")
		rateLimit   = fs.String("rate-limit", "default", "rate limits: default, off, or endpoint=N/period,… (endpoints: authorize, token, introspect, revoke, register, default)")
		demoMCP     = fs.Bool("demo-mcp", true, "serve the demo MCP server at /mcp")
		logFormat   = fs.String("log-format", "text", "log format: text or json")
		logLevel    = fs.String("log-level", "info", "log level: debug, info, warn or error")
		statics     listFlag
		trustXFF    = fs.Bool("trust-forwarded-for", false, "rate-limit by the last X-Forwarded-For hop: set only behind a reverse proxy you control")
		auditSecret = fs.String("audit-secret", "", "operator secret accepted by the audit stream (at least 16 characters; prefer the environment variable)")
		storeKey    = fs.String("store-key", "", "32-byte `key` (base64 or hex) encrypting signing and session keys in the store (default for SQLite: generated into <db>.key, mode 0600; prefer the environment variable)")
		bodyTimeout = fs.Duration("body-read-timeout", 30*time.Second, "how long a request body may take to arrive before the connection is cut (0 disables; streams are exempt)")
		stopTimeout = fs.Duration("shutdown-timeout", 10*time.Second, "on SIGTERM/SIGINT, how long in-flight requests may take to finish")
	)
	fs.Var(&users, "user", "a sign-in account `name:password`; repeatable (default: admin with a random password, printed at start)")
	fs.Var(&statics, "static-client", "a pre-registered public client `id:redirect-uri`; repeatable")
	usage := func() {
		fmt.Fprintf(stderr, "Usage: mcp-auth-server [flags]\n\nAn OAuth 2.1 authorization server with a demo MCP server.\nEvery flag can also be set with MCPAUTH_<FLAG> (e.g. MCPAUTH_GRANTEX_API_KEY); flags win.\n\nFlags:\n")
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
			envErr = usagef("%s=%q: %v", envName(f.Name), v, unwrapFlagErr(err))
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
		bodyReadTimeout:   *bodyTimeout, shutdownTimeout: *stopTimeout,
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
	if err := o.check(*scopes, *rateLimit, users.vals, statics.vals); err != nil {
		return nil, err
	}
	return o, nil
}

// unwrapFlagErr turns strconv's "parse error" into something readable.
func unwrapFlagErr(err error) error {
	if errors.Is(err, strconv.ErrSyntax) || errors.Is(err, strconv.ErrRange) || err.Error() == "parse error" {
		return errors.New("not a valid value (booleans: true or false)")
	}
	return err
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
	if err := checkIssuer(o.issuer); err != nil {
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
		if seen[name] {
			return usagef("-user: %q given twice", name)
		}
		seen[name] = true
		o.users = append(o.users, userFlag{name, pw})
	}

	if o.rateLimits, err = mcpauth.ParseRateLimits(rateLimit); err != nil {
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
		o.staticClients = append(o.staticClients, mcpauth.Client{
			ID: id, Name: id, RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none",
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
