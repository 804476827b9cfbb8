// Package github signs users in with GitHub (github.com or GitHub
// Enterprise Server) for an mcpauth server: an [mcpauth.Authenticator] for
// [mcpauth.Config.SignInProviders].
//
// GitHub is OAuth 2.0, not OpenID Connect: there is no ID token. The user
// is who GitHub's REST API says the access token belongs to (GET /user), the
// e-mail is the primary verified one (GET /user/emails), and an optional
// organization requirement is checked with GET /user/memberships/orgs/{org}
// (active membership). The browser plumbing (state and PKCE verifier sealed
// in a short-lived cookie bound to the pending request, the session cookie,
// the error pages) is shared with package authn/oidc.
package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	ghendpoint "golang.org/x/oauth2/github"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/internal/upstream"
)

// Defaults.
const (
	DefaultBaseURL = "https://github.com"
	defaultAPIURL  = "https://api.github.com"
	// DefaultTimeout bounds each request to GitHub.
	DefaultTimeout = 10 * time.Second
	// maxAPIBody bounds a GitHub API answer.
	maxAPIBody = 1 << 20
)

// Config configures an [Authenticator].
type Config struct {
	// ClientID and ClientSecret are the GitHub OAuth app's.
	ClientID     string
	ClientSecret string
	// RedirectURL is the app's "Authorization callback URL", an absolute URL
	// on this server; the host serves the Authenticator at its path.
	RedirectURL string
	// BaseURL is GitHub's web URL: DefaultBaseURL, or a GitHub Enterprise
	// Server URL such as https://github.example.com.
	BaseURL string
	// APIURL is the REST API's base URL. Default https://api.github.com for
	// github.com, BaseURL + "/api/v3" otherwise.
	APIURL string

	// Org, when set, admits only active members of this organization (the
	// app asks for read:org).
	Org string
	// ScopesFor, when set, maps the user to the scopes they may be granted
	// (User.AllowedScopes). A user mapped to none is refused at sign-in.
	ScopesFor func(Claims) []string

	// CookieKey seals the state and session cookies: at least 32 random
	// bytes, the same on every replica.
	CookieKey  []byte
	FlowTTL    time.Duration // default 10 min
	SessionTTL time.Duration // default 12 h

	HTTPClient *http.Client
	Logger     *slog.Logger
	Now        func() time.Time
}

// Claims is what GitHub says about the user.
type Claims struct {
	ID    int64
	Login string
	Name  string
	// Email is the primary e-mail, only when GitHub has verified it.
	Email string
	// Org is the organization whose membership was checked ("" when none).
	Org string
}

// Authenticator signs users in with GitHub. It implements
// [mcpauth.Authenticator] and, as an [http.Handler], the callback.
type Authenticator struct {
	cfg    Config
	flow   *upstream.Flow
	oauth  *oauth2.Config
	client *http.Client
	issuer string // subject namespace: BaseURL
}

// New validates cfg.
func New(cfg Config) (*Authenticator, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("github: ClientID is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	if u, err := url.Parse(cfg.BaseURL); err != nil || !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("github: BaseURL %q is not an absolute URL", cfg.BaseURL)
	}
	endpoint := ghendpoint.Endpoint
	if cfg.BaseURL != DefaultBaseURL {
		endpoint = oauth2.Endpoint{AuthURL: cfg.BaseURL + "/login/oauth/authorize", TokenURL: cfg.BaseURL + "/login/oauth/access_token"}
	}
	if cfg.APIURL == "" {
		cfg.APIURL = defaultAPIURL
		if cfg.BaseURL != DefaultBaseURL {
			cfg.APIURL = cfg.BaseURL + "/api/v3"
		}
	}
	cfg.APIURL = strings.TrimSuffix(cfg.APIURL, "/")
	if cfg.Org != "" && (strings.ContainsAny(cfg.Org, "/?#% ") || len(cfg.Org) > 100) {
		return nil, fmt.Errorf("github: Org %q is not an organization name", cfg.Org)
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
	flow, err := upstream.New(upstream.Config{Kind: "github", ID: cfg.BaseURL + "\x00" + cfg.ClientID, RedirectURL: cfg.RedirectURL,
		Key: cfg.CookieKey, FlowTTL: cfg.FlowTTL, SessionTTL: cfg.SessionTTL, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	scopes := []string{"read:user", "user:email"}
	if cfg.Org != "" {
		scopes = append(scopes, "read:org")
	}
	return &Authenticator{cfg: cfg, flow: flow, client: client, issuer: cfg.BaseURL,
		oauth: &oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: endpoint, RedirectURL: cfg.RedirectURL, Scopes: scopes}}, nil
}

// RedirectURL is the callback URL to register in the GitHub OAuth app.
func (a *Authenticator) RedirectURL() string { return a.flow.RedirectURL() }

// CallbackPath is the path the host mounts the Authenticator at.
func (a *Authenticator) CallbackPath() string { return a.flow.CallbackPath() }

// Subject is the mcpauth subject of GitHub user id: BaseURL#id (the
// numeric id, which survives a rename of the login).
func (a *Authenticator) Subject(id int64) string { return a.issuer + "#" + strconv.FormatInt(id, 10) }

// Authenticate implements [mcpauth.Authenticator].
func (a *Authenticator) Authenticate(r *http.Request) (mcpauth.User, bool, error) {
	u, ok := a.flow.User(r)
	return u, ok, nil
}

// SignIn implements [mcpauth.Authenticator]: to GitHub's authorize page
// with state and a PKCE challenge (RFC 7636).
func (a *Authenticator) SignIn(w http.ResponseWriter, r *http.Request, returnTo string) {
	if !upstream.ValidReturnTo(returnTo) {
		a.flow.Fail(w, r, nil, upstream.ErrBadState.With(fmt.Errorf("bad returnTo %q", returnTo)))
		return
	}
	p, err := a.flow.Begin(w, returnTo)
	if err != nil {
		a.flow.Fail(w, r, nil, err)
		return
	}
	http.Redirect(w, r, a.oauth.AuthCodeURL(p.State, oauth2.S256ChallengeOption(p.Verifier)), http.StatusFound)
}

// ServeHTTP is the callback at RedirectURL.
func (a *Authenticator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.flow.ServeCallback(w, r, a.redeem)
}

func (a *Authenticator) redeem(ctx context.Context, p *upstream.Pending, code string) (mcpauth.User, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*DefaultTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, a.client)
	tok, err := a.oauth.Exchange(ctx, code, oauth2.VerifierOption(p.Verifier))
	if err != nil {
		return mcpauth.User{}, upstream.ExchangeError(err)
	}
	var user struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
		Name  string `json:"name"`
	}
	if _, err := a.api(ctx, tok, "/user", &user); err != nil {
		return mcpauth.User{}, err
	}
	if user.ID <= 0 || user.Login == "" {
		return mcpauth.User{}, upstream.ErrInvalidToken.With(errors.New("GET /user has no id or login"))
	}
	c := Claims{ID: user.ID, Login: user.Login, Name: user.Name}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if _, err := a.api(ctx, tok, "/user/emails", &emails); err != nil {
		return mcpauth.User{}, err
	}
	for _, e := range emails {
		if e.Primary && e.Verified {
			c.Email = e.Email
		}
	}
	if a.cfg.Org != "" {
		var m struct {
			State string `json:"state"`
		}
		status, err := a.api(ctx, tok, "/user/memberships/orgs/"+url.PathEscape(a.cfg.Org), &m)
		switch {
		case status == http.StatusNotFound || status == http.StatusForbidden:
			return mcpauth.User{}, upstream.ErrNotAllowed.With(fmt.Errorf("%s is not a member of %s", user.Login, a.cfg.Org))
		case err != nil:
			return mcpauth.User{}, err
		case m.State != "active":
			return mcpauth.User{}, upstream.ErrNotAllowed.With(fmt.Errorf("%s's membership of %s is %q", user.Login, a.cfg.Org, m.State))
		}
		c.Org = a.cfg.Org
	}
	u := mcpauth.User{Subject: a.Subject(c.ID), Name: c.Login,
		Claims: map[string]any{"login": c.Login, "email": c.Email, "org": c.Org}}
	if c.Name != "" {
		u.Name = c.Name + " (" + c.Login + ")"
	}
	if a.cfg.ScopesFor != nil {
		u.AllowedScopes = append([]string{}, a.cfg.ScopesFor(c)...)
		if len(u.AllowedScopes) == 0 {
			return mcpauth.User{}, upstream.ErrNotAllowed.With(fmt.Errorf("%s: ScopesFor granted no scope", c.Login))
		}
	}
	return u, nil
}

// api GETs a REST API path with the user's token into v. A 404 or 403 is
// returned as its status with a nil error for the caller to judge.
func (a *Authenticator) api(ctx context.Context, tok *oauth2.Token, path string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.APIURL+path, nil)
	if err != nil {
		return 0, upstream.ErrUnavailable.With(err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	tok.SetAuthHeader(req)
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, upstream.ErrUnavailable.With(fmt.Errorf("GET %s: %w", path, err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden:
		return resp.StatusCode, nil
	case resp.StatusCode != http.StatusOK:
		return resp.StatusCode, upstream.ErrUnavailable.With(fmt.Errorf("GET %s: %s", path, resp.Status))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAPIBody)).Decode(v); err != nil {
		return resp.StatusCode, upstream.ErrUnavailable.With(fmt.Errorf("GET %s: %w", path, err))
	}
	return resp.StatusCode, nil
}
