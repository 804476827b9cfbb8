package mcpauth

// This file validates a Config and fills in its defaults.

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/internal/browser"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/store"
)

// ConfigError names the Config field that NewServer rejected.
type ConfigError struct {
	Field  string
	Reason string
}

// Error names the field and why it was refused.
func (e *ConfigError) Error() string { return "mcpauth: Config." + e.Field + ": " + e.Reason }

func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// isLoopbackHost reports whether host (no port) is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// validateIssuer applies RFC 8414 §2: https (http only on loopback), no query
// or fragment.
func validateIssuer(issuer string) (*url.URL, error) {
	if issuer == "" {
		return nil, configErr("Issuer", "required")
	}
	u, err := url.Parse(issuer)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, configErr("Issuer", "%q is not an absolute URL", issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.Contains(issuer, "#") || u.User != nil {
		return nil, configErr("Issuer", "%q must not have a query, fragment or user info", issuer)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	default:
		return nil, configErr("Issuer", "%q must use https (http is allowed only on a loopback host)", issuer)
	}
	if strings.HasSuffix(u.Path, "/") {
		return nil, configErr("Issuer", "%q must not end with a slash", issuer)
	}
	return u, nil
}

// DefaultMaxStateLength is Config.MaxStateLength's default: 2 KiB, ample
// for the random value or signed blob clients put in state.
const DefaultMaxStateLength = 2048

// normalize fills defaults and validates c, returning the parsed issuer.
func (c *Config) normalize() (*url.URL, error) {
	iss, err := validateIssuer(c.Issuer)
	if err != nil {
		return nil, err
	}
	if len(c.Scopes) == 0 {
		return nil, configErr("Scopes", "at least one scope is required")
	}
	for _, s := range c.Scopes {
		if !validScopeToken(s) {
			return nil, configErr("Scopes", "%q is not a valid scope token (RFC 6749 §3.3)", s)
		}
	}
	for _, s := range c.DefaultScopes {
		if !slices.Contains(c.Scopes, s) {
			return nil, configErr("DefaultScopes", "%q is not in Scopes", s)
		}
	}
	for _, r := range c.Resources {
		if err := validResourceURI(r); err != nil {
			return nil, configErr("Resources", "%q: %v", r, err)
		}
	}
	for _, r := range c.AllowedRedirectURIs {
		if err := validRedirectURI(r); err != nil {
			return nil, configErr("AllowedRedirectURIs", "%q: %v", r, err)
		}
	}
	if err := c.ConsentUI.validate(); err != nil {
		return nil, err
	}
	if c.Grantex.Client == nil && c.Authenticator == nil && len(c.Users) == 0 && len(c.SignInProviders) == 0 {
		return nil, configErr("Users", "the local authority needs Users, SignInProviders or an Authenticator to know who consents")
	}
	if err := checkSignInProviders(c); err != nil {
		return nil, err
	}
	if c.Authenticator != nil && len(c.Users) > 0 {
		return nil, configErr("Users", "set Users or Authenticator, not both")
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		if u.Username == "" || u.PasswordHash == "" {
			return nil, configErr("Users", "user %d needs Username and PasswordHash", i)
		}
		if seen[u.Username] {
			return nil, configErr("Users", "duplicate username %q", u.Username)
		}
		seen[u.Username] = true
		if _, err := browser.ParseHash(u.PasswordHash); err != nil {
			return nil, configErr("Users", "user %q: %v", u.Username, err)
		}
	}
	if c.Grantex.AgentID == "" {
		if c.Grantex.Client != nil {
			return nil, configErr("Grantex.AgentID", "required in managed (Grantex) mode")
		}
		c.Grantex.AgentID = "mcpauth"
	}
	if c.Grantex.DeveloperID == "" {
		c.Grantex.DeveloperID = "local"
	}
	if c.Grantex.Client != nil && c.Grantex.Issuer == "" {
		c.Grantex.Issuer = c.Grantex.Client.BaseURL()
	}
	if c.MaxStateLength == 0 {
		c.MaxStateLength = DefaultMaxStateLength
	}
	if c.MaxStateLength < 0 {
		return nil, configErr("MaxStateLength", "must not be negative")
	}
	if err := c.delegationDefaults(); err != nil {
		return nil, err
	}
	setDefault(&c.CodeTTL, 600*time.Second)
	setDefault(&c.AccessTokenTTL, time.Hour)
	setDefault(&c.RefreshTokenTTL, 30*24*time.Hour)
	setDefault(&c.RefreshRetryWindow, 10*time.Second)
	setDefault(&c.StoreTimeout, 5*time.Second)
	setDefault(&c.ClientIdleExpiry, 90*24*time.Hour)
	if c.MaxPendingAuthorizations == 0 {
		c.MaxPendingAuthorizations = 10000
	}
	setDefault(&c.KeyRotationPeriod, 30*24*time.Hour)
	setDefault(&c.KeyRefreshInterval, time.Minute)
	setDefault(&c.BodyReadTimeout, 30*time.Second)
	if c.VerifiedTokenCacheSize == 0 {
		c.VerifiedTokenCacheSize = defaultTokenCacheSize
	}
	if c.MaxPendingAuthorizations < 0 {
		return nil, configErr("MaxPendingAuthorizations", "must not be negative")
	}
	for name, d := range map[string]time.Duration{"CodeTTL": c.CodeTTL, "AccessTokenTTL": c.AccessTokenTTL, "RefreshTokenTTL": c.RefreshTokenTTL, "KeyRefreshInterval": c.KeyRefreshInterval, "StoreTimeout": c.StoreTimeout} {
		if d < 0 {
			return nil, configErr(name, "must not be negative")
		}
	}
	switch c.SigningAlgorithm {
	case "":
		c.SigningAlgorithm = "ES256"
	case "ES256", "EdDSA", "RS256":
	default:
		return nil, configErr("SigningAlgorithm", "%q is not one of ES256, EdDSA, RS256", c.SigningAlgorithm)
	}
	if c.RateLimits == nil {
		c.RateLimits = limits.DefaultRateLimits()
	}
	if c.PasswordCheckConcurrency < 0 {
		return nil, configErr("PasswordCheckConcurrency", "must not be negative")
	}
	if c.PasswordCheckConcurrency == 0 {
		c.PasswordCheckConcurrency = min(runtime.GOMAXPROCS(0), 4)
	}
	setDefault(&c.PasswordCheckWait, 2*time.Second)
	lb := limits.DefaultLoginBackoff()
	if c.LoginBackoff != nil {
		cp := *c.LoginBackoff // a copy: the caller's value stays theirs
		lb = &cp
		setDefault(&lb.Base, time.Second)
		setDefault(&lb.Max, 15*time.Minute)
	}
	if err := lb.Check(); err != nil {
		return nil, configErr("LoginBackoff", "%v", err)
	}
	c.LoginBackoff = lb
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Clients == nil {
		c.Clients = store.NewMemoryClientStore()
	}
	if c.Grants == nil {
		c.Grants = store.NewMemoryGrantStore(c.Now)
	}
	if c.Keys == nil {
		c.Keys = store.NewMemoryKeyStore()
	}
	for i := range c.StaticClients {
		if err := c.normalizeStaticClient(&c.StaticClients[i]); err != nil {
			return nil, err
		}
	}
	if c.AllowAnonymousIntrospection {
		c.Logger.Warn("mcpauth: AllowAnonymousIntrospection is set: anyone holding a token can learn its subject, scopes and client at /introspect; Introspectors restricts nothing")
	}
	c.Introspectors = slices.Clone(c.Introspectors) // the caller's slice stays theirs
	for _, id := range c.Introspectors {
		if id == "" {
			return nil, configErr("Introspectors", "an empty client id")
		}
		if i := slices.IndexFunc(c.StaticClients, func(cl store.Client) bool { return cl.ID == id }); i >= 0 && c.StaticClients[i].IsPublic() {
			return nil, configErr("Introspectors", "client %q is public: an introspector must authenticate with a secret", id)
		}
	}
	return iss, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

func (c *Config) normalizeStaticClient(cl *store.Client) error {
	if cl.ID == "" {
		return configErr("StaticClients", "a client needs an ID")
	}
	if len(cl.RedirectURIs) == 0 && !machineClient(cl) {
		return configErr("StaticClients", "client %q needs RedirectURIs", cl.ID)
	}
	for _, r := range cl.RedirectURIs {
		if err := validRedirectURI(r); err != nil {
			return configErr("StaticClients", "client %q: redirect URI %q: %v", cl.ID, r, err)
		}
	}
	if len(cl.GrantTypes) == 0 {
		cl.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	if len(cl.ResponseTypes) == 0 {
		cl.ResponseTypes = []string{"code"}
	}
	switch {
	case cl.TokenEndpointAuthMethod == authMethodPrivateKeyJWT:
		if err := checkAssertionKeys(cl); err != nil {
			return configErr("StaticClients", "client %q: %v", cl.ID, err)
		}
	case cl.ClientSecret != "":
		cl.SecretDigest = secretSum(cl.ClientSecret)
		cl.ClientSecret = ""
		if cl.TokenEndpointAuthMethod == "" {
			cl.TokenEndpointAuthMethod = "client_secret_basic"
		}
	case cl.TokenEndpointAuthMethod == "" || cl.TokenEndpointAuthMethod == "none":
		cl.TokenEndpointAuthMethod = "none"
	default:
		return configErr("StaticClients", "client %q uses %s but has no ClientSecret", cl.ID, cl.TokenEndpointAuthMethod)
	}
	// The client authenticates only with this method (RFC 7591 §2), so it
	// must be one the token endpoint serves.
	switch m := cl.TokenEndpointAuthMethod; {
	case m == authMethodNone && cl.SecretDigest != nil:
		return configErr("StaticClients", "client %q has a ClientSecret but TokenEndpointAuthMethod none", cl.ID)
	case m != authMethodNone && m != authMethodBasic && m != authMethodPost && m != authMethodPrivateKeyJWT:
		return configErr("StaticClients", "client %q: TokenEndpointAuthMethod %q is not one of none, client_secret_basic, client_secret_post", cl.ID, m)
	}
	if cl.IssuedAt.IsZero() {
		cl.IssuedAt = c.Now()
	}
	return nil
}

// dataImage is a logo inlined as a base64 raster image: SVG is left out, as
// it can carry script when opened on its own.
var dataImage = regexp.MustCompile(`^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}$`)

// validate checks the branding: the pages link and embed these URLs, so
// each must be https (http only on a loopback host) or, for the logo, an
// inlined image.
func (u ConsentUI) validate() error {
	for field, v := range map[string]string{"ConsentUI.AppLogo": u.AppLogo, "ConsentUI.PrivacyURL": u.PrivacyURL, "ConsentUI.TermsURL": u.TermsURL} {
		if v == "" || field == "ConsentUI.AppLogo" && dataImage.MatchString(v) {
			continue
		}
		p, err := url.Parse(v)
		if err != nil || p.Host == "" || p.User != nil || !(p.Scheme == "https" || p.Scheme == "http" && isLoopbackHost(p.Hostname())) {
			return configErr(field, "%.80q: want an https URL", v)
		}
	}
	return nil
}
