// Package oidc signs users in at an OpenID Connect provider (Google, Okta,
// Entra ID, Keycloak, …) for an mcpauth server: an [mcpauth.Authenticator]
// for [mcpauth.Config.SignInProviders] built on github.com/coreos/go-oidc
// and golang.org/x/oauth2.
//
// The flow is OpenID Connect Core 1.0 §3.1 (authorization code) with RFC 7636
// PKCE (S256): discovery (OIDC Discovery 1.0 §4), then on sign-in a redirect
// to the provider carrying state and nonce, both sealed with the PKCE
// verifier in a short-lived cookie bound to the pending authorization
// request; the callback ([Authenticator.ServeHTTP], mounted by the host at
// RedirectURL's path) checks state, redeems the code, verifies the ID token
// (signature, iss, aud, exp, nonce: §3.1.3.7), applies the allow-lists and
// sets the authenticator's own sealed session cookie. Nothing is kept in
// memory, so any replica with the same CookieKey completes any sign-in.
package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/internal/upstream"
)

// DefaultTimeout bounds each request to the provider.
const DefaultTimeout = 10 * time.Second

// Config configures an [Authenticator].
type Config struct {
	// Issuer is the provider's issuer URL (OIDC Discovery 1.0 §4: its
	// /.well-known/openid-configuration is fetched on first use).
	Issuer string
	// ClientID and ClientSecret are this server's client at the provider.
	ClientID     string
	ClientSecret string
	// RedirectURL is the callback registered at the provider, an absolute URL
	// on this server (e.g. https://auth.example.com/oidc/callback). The host
	// serves the Authenticator itself at its path.
	RedirectURL string
	// Scopes requested upstream. Default openid email profile.
	Scopes []string

	// AllowedDomains admits users whose e-mail is in one of these domains
	// and verified by the provider (email_verified). AllowedSubjects admits
	// these upstream sub values. With both empty anyone the provider signs
	// in is admitted; otherwise a user must match one of them.
	AllowedDomains  []string
	AllowedSubjects []string
	// ScopesFor, when set, maps the user's claims to the scopes they may be
	// granted (carried as User.AllowedScopes). A user mapped to none is
	// refused at sign-in.
	ScopesFor func(Claims) []string

	// CookieKey seals the state and session cookies: at least 32 random
	// bytes, the same on every replica.
	CookieKey []byte
	// FlowTTL bounds the time spent at the provider. Default 10 min.
	FlowTTL time.Duration
	// SessionTTL is how long a sign-in lasts. Default 12 h.
	SessionTTL time.Duration

	// HTTPClient talks to the provider. Default: a client with DefaultTimeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	Now        func() time.Time
}

// maxGroups bounds the groups claim carried to Config.GrantPolicy: it rides
// in the session cookie.
const maxGroups = 32

// Claims are the user's claims from the ID token (and the UserInfo
// response when the ID token lacks the e-mail; OIDC Core §5.1).
type Claims struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	// Raw holds every claim of the ID token.
	Raw map[string]any
}

// Authenticator signs users in at an OpenID Connect provider. It implements
// [mcpauth.Authenticator] and, as an [http.Handler], the callback.
type Authenticator struct {
	cfg    Config
	flow   *upstream.Flow
	client *http.Client

	mu       sync.Mutex
	provider *gooidc.Provider
}

// New validates cfg. Discovery happens on first use, so a provider that is
// down at start-up does not stop the server (sign-in shows an error page).
func New(cfg Config) (*Authenticator, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("oidc: Issuer is required")
	case cfg.ClientID == "":
		return nil, errors.New("oidc: ClientID is required")
	}
	if u, err := url.Parse(cfg.Issuer); err != nil || !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("oidc: Issuer %q is not an absolute URL", cfg.Issuer)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{gooidc.ScopeOpenID, "email", "profile"}
	} else if !slices.Contains(cfg.Scopes, gooidc.ScopeOpenID) {
		cfg.Scopes = append([]string{gooidc.ScopeOpenID}, cfg.Scopes...)
	}
	for i, d := range cfg.AllowedDomains {
		d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
		if d == "" || strings.Contains(d, "@") {
			return nil, fmt.Errorf("oidc: AllowedDomains: %q is not a domain", cfg.AllowedDomains[i])
		}
		cfg.AllowedDomains[i] = d
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: DefaultTimeout}
	}
	flow, err := upstream.New(upstream.Config{Kind: "oidc", ID: cfg.Issuer + "\x00" + cfg.ClientID, RedirectURL: cfg.RedirectURL,
		Key: cfg.CookieKey, FlowTTL: cfg.FlowTTL, SessionTTL: cfg.SessionTTL, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	return &Authenticator{cfg: cfg, flow: flow, client: client}, nil
}

// RedirectURL is the callback URL to register at the provider.
func (a *Authenticator) RedirectURL() string { return a.flow.RedirectURL() }

// CallbackPath is the path the host mounts the Authenticator at.
func (a *Authenticator) CallbackPath() string { return a.flow.CallbackPath() }

// Subject is the mcpauth subject of upstream subject sub: the issuer and
// sub joined by "#", so two providers never share a subject (an issuer has
// no fragment, RFC 8414 §2 / OIDC Discovery §3).
func (a *Authenticator) Subject(sub string) string { return a.cfg.Issuer + "#" + sub }

// discover fetches the provider's metadata once; failures are retried on
// the next sign-in.
func (a *Authenticator) discover(ctx context.Context) (*gooidc.Provider, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.provider != nil {
		return a.provider, nil
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, a.client), a.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	a.provider = p
	return p, nil
}

func (a *Authenticator) oauth2Config(p *gooidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: a.cfg.ClientID, ClientSecret: a.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: a.cfg.RedirectURL, Scopes: a.cfg.Scopes}
}

// Authenticate implements [mcpauth.Authenticator]: the user of this
// authenticator's session cookie.
func (a *Authenticator) Authenticate(r *http.Request) (mcpauth.User, bool, error) {
	u, ok := a.flow.User(r)
	return u, ok, nil
}

// SignIn implements [mcpauth.Authenticator]: it sends the browser to the
// provider with state, nonce and a PKCE challenge (RFC 7636 §4.3), sealed
// with returnTo in a short-lived cookie.
func (a *Authenticator) SignIn(w http.ResponseWriter, r *http.Request, returnTo string) {
	if !upstream.ValidReturnTo(returnTo) {
		a.flow.Fail(w, r, nil, upstream.ErrBadState.With(fmt.Errorf("bad returnTo %q", returnTo)))
		return
	}
	p, err := a.discover(r.Context())
	if err != nil {
		a.flow.Fail(w, r, &upstream.Pending{ReturnTo: returnTo}, upstream.ErrUnavailable.With(err))
		return
	}
	pending, err := a.flow.Begin(w, returnTo)
	if err != nil {
		a.flow.Fail(w, r, nil, err)
		return
	}
	u := a.oauth2Config(p).AuthCodeURL(pending.State, gooidc.Nonce(pending.Nonce), oauth2.S256ChallengeOption(pending.Verifier))
	http.Redirect(w, r, u, http.StatusFound)
}

// ServeHTTP is the callback at RedirectURL (OIDC Core §3.1.2.5): it ends
// the sign-in and sends the browser back to the pending request, or shows
// our error page.
func (a *Authenticator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.flow.ServeCallback(w, r, a.redeem)
}

// redeem exchanges the code, verifies the ID token and maps the user.
func (a *Authenticator) redeem(ctx context.Context, pending *upstream.Pending, code string) (mcpauth.User, error) {
	p, err := a.discover(ctx)
	if err != nil {
		return mcpauth.User{}, upstream.ErrUnavailable.With(err)
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, a.client)
	tok, err := a.oauth2Config(p).Exchange(ctx, code, oauth2.VerifierOption(pending.Verifier))
	if err != nil {
		return mcpauth.User{}, upstream.ExchangeError(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return mcpauth.User{}, upstream.ErrInvalidToken.With(errors.New("no id_token in the token response"))
	}
	// Verifier shares the provider's cached JWKS (refetched on an unknown kid).
	idt, err := p.Verifier(&gooidc.Config{ClientID: a.cfg.ClientID, Now: a.cfg.Now}).Verify(ctx, raw)
	if err != nil {
		return mcpauth.User{}, upstream.ErrInvalidToken.With(err)
	}
	// With several audiences, azp must name us (OIDC Core §3.1.3.7 items 4-5).
	var azp struct {
		AZP string `json:"azp"`
	}
	if err := idt.Claims(&azp); err != nil || (len(idt.Audience) > 1 && azp.AZP != a.cfg.ClientID) {
		return mcpauth.User{}, upstream.ErrInvalidToken.With(fmt.Errorf("ID token for audiences %v, azp %q", idt.Audience, azp.AZP))
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pending.Nonce)) != 1 {
		return mcpauth.User{}, upstream.ErrInvalidToken.With(errors.New("ID token nonce does not match this sign-in"))
	}
	c, err := a.claims(ctx, p, idt, tok)
	if err != nil {
		return mcpauth.User{}, err
	}
	return a.user(c)
}

// idClaims are the standard claims we read (OIDC Core §5.1).
type idClaims struct {
	Email         string   `json:"email"`
	EmailVerified flexBool `json:"email_verified"`
	Name          string   `json:"name"`
	Username      string   `json:"preferred_username"`
}

// flexBool accepts true and "true" (some providers send a string).
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		*b = true
	default:
		*b = false
	}
	return nil
}

func (a *Authenticator) claims(ctx context.Context, p *gooidc.Provider, idt *gooidc.IDToken, tok *oauth2.Token) (Claims, error) {
	var std idClaims
	raw := map[string]any{}
	if err := idt.Claims(&std); err != nil {
		return Claims{}, upstream.ErrInvalidToken.With(err)
	}
	_ = idt.Claims(&raw)
	c := Claims{Issuer: idt.Issuer, Subject: idt.Subject, Email: std.Email, EmailVerified: bool(std.EmailVerified), Name: std.Name, Raw: raw}
	if c.Name == "" {
		c.Name = std.Username
	}
	// Providers that keep the ID token small (Okta, zitadel) give the e-mail
	// at UserInfo only; its sub must be the ID token's (OIDC Core §5.3.2).
	if c.Email == "" && p.UserInfoEndpoint() != "" {
		info, err := p.UserInfo(gooidc.ClientContext(ctx, a.client), oauth2.StaticTokenSource(tok))
		if err != nil {
			return Claims{}, upstream.ErrUnavailable.With(fmt.Errorf("userinfo: %w", err))
		}
		if info.Subject != idt.Subject {
			return Claims{}, upstream.ErrInvalidToken.With(errors.New("userinfo sub differs from the ID token's"))
		}
		var more idClaims
		_ = info.Claims(&more)
		c.Email, c.EmailVerified = info.Email, info.EmailVerified
		if c.Name == "" {
			c.Name = more.Name
		}
		if c.Name == "" {
			c.Name = more.Username
		}
	}
	return c, nil
}

// user applies the allow-lists and the scope mapping.
func (a *Authenticator) user(c Claims) (mcpauth.User, error) {
	if len(a.cfg.AllowedDomains) > 0 || len(a.cfg.AllowedSubjects) > 0 {
		admitted := slices.Contains(a.cfg.AllowedSubjects, c.Subject)
		if !admitted && len(a.cfg.AllowedDomains) > 0 && c.Email != "" {
			_, domain, _ := strings.Cut(strings.ToLower(c.Email), "@")
			inDomain := slices.Contains(a.cfg.AllowedDomains, domain)
			if inDomain && !c.EmailVerified {
				return mcpauth.User{}, upstream.ErrUnverifiedEmail.With(fmt.Errorf("sub %q: e-mail not verified", c.Subject))
			}
			admitted = inDomain
		}
		if !admitted {
			return mcpauth.User{}, upstream.ErrNotAllowed.With(fmt.Errorf("sub %q is not allowed", c.Subject))
		}
	}
	u := mcpauth.User{Subject: a.Subject(c.Subject), Name: c.Name, Claims: map[string]any{
		"iss": c.Issuer, "sub": c.Subject, "email": c.Email, "email_verified": c.EmailVerified, "name": c.Name,
	}}
	if groups, ok := c.Raw["groups"].([]any); ok && len(groups) <= maxGroups {
		u.Claims["groups"] = groups // the usual claim for mapping a directory to scopes
	}
	if u.Name == "" {
		u.Name = c.Email
	}
	if a.cfg.ScopesFor != nil {
		u.AllowedScopes = append([]string{}, a.cfg.ScopesFor(c)...)
		if len(u.AllowedScopes) == 0 {
			return mcpauth.User{}, upstream.ErrNotAllowed.With(fmt.Errorf("sub %q: ScopesFor granted no scope", c.Subject))
		}
	}
	return u, nil
}
