// Package upstream is the browser plumbing shared by the upstream sign-in
// authenticators (authn/oidc, authn/github): the short-lived state cookie
// that binds an upstream authorization request (RFC 6749 §10.12 state,
// OIDC Core §3.1.2.1 nonce, RFC 7636 verifier) to the pending request it
// returns to, the session cookie set after the callback, and the error
// pages. Both cookies are sealed with AES-256-GCM under the authenticator's
// own key, so any replica holding the key can read them: there is no
// server-side state.
package upstream

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/internal/ui"
)

// Defaults for Config.
const (
	DefaultFlowTTL    = 10 * time.Minute
	DefaultSessionTTL = 12 * time.Hour
	// MinKeyLen is the shortest accepted cookie key.
	MinKeyLen = 32
	// maxCookie bounds a sealed cookie value (browsers keep 4 KiB per cookie).
	maxCookie = 3800
)

// Config configures a Flow.
type Config struct {
	// Kind names the authenticator ("oidc", "github") in cookie names.
	Kind string
	// ID tells two providers of one kind apart (issuer and client id).
	ID string
	// RedirectURL is the callback registered upstream.
	RedirectURL string
	// Key seals the cookies; at least MinKeyLen random bytes.
	Key []byte
	// FlowTTL bounds a sign-in at the provider. Default DefaultFlowTTL.
	FlowTTL time.Duration
	// SessionTTL is how long the sign-in lasts. Default DefaultSessionTTL.
	SessionTTL time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// Flow runs the browser side of an upstream authorization code flow.
type Flow struct {
	cfg      Config
	redirect *url.URL
	secure   bool
	prefix   string
	state    cipher.AEAD
	session  cipher.AEAD
}

// New validates cfg and returns a Flow.
func New(cfg Config) (*Flow, error) {
	if len(cfg.Key) < MinKeyLen {
		return nil, fmt.Errorf("cookie key: want at least %d random bytes, got %d", MinKeyLen, len(cfg.Key))
	}
	u, err := url.Parse(cfg.RedirectURL)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
		return nil, fmt.Errorf("redirect URL %q: want an absolute URL without a fragment", cfg.RedirectURL)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("redirect URL %q: want https (http only on a loopback host)", cfg.RedirectURL)
	}
	if cfg.FlowTTL <= 0 {
		cfg.FlowTTL = DefaultFlowTTL
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Flow{cfg: cfg, redirect: u, secure: u.Scheme == "https"}
	sum := sha256.Sum256([]byte(cfg.Kind + "\x00" + cfg.ID))
	f.prefix = "mcpauth_" + cfg.Kind + "_" + hex.EncodeToString(sum[:4])
	if f.secure {
		f.prefix = "__Host-" + f.prefix // host-only, Secure, Path=/ (RFC 6265bis §4.1.3.2)
	}
	if f.state, err = aead(cfg.Key, "state"); err != nil {
		return nil, err
	}
	if f.session, err = aead(cfg.Key, "session"); err != nil {
		return nil, err
	}
	return f, nil
}

// aead derives a purpose-bound AES-256-GCM key from the configured key.
func aead(key []byte, purpose string) (cipher.AEAD, error) {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("mcpauth upstream cookie " + purpose))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// RedirectURL is the callback URL registered upstream.
func (f *Flow) RedirectURL() string { return f.cfg.RedirectURL }

// CallbackPath is the path the host mounts the callback handler at.
func (f *Flow) CallbackPath() string { return f.redirect.EscapedPath() }

// Pending is one sign-in at the provider, sealed in its state cookie.
type Pending struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	// ReturnTo is where the browser goes after the callback: our consent
	// step of the pending authorization request.
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"`
}

// Begin starts a sign-in: fresh state, nonce and PKCE verifier, sealed in a
// cookie named after the state (so sign-ins in two tabs do not clobber each
// other) and bound to returnTo.
func (f *Flow) Begin(w http.ResponseWriter, returnTo string) (*Pending, error) {
	if len(returnTo) > 2048 {
		return nil, errors.New("return URL too long")
	}
	p := &Pending{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), ReturnTo: returnTo,
		Expires: f.cfg.Now().Add(f.cfg.FlowTTL).Unix()}
	v, err := seal(f.state, f.stateCookie(p.State), p)
	if err != nil {
		return nil, err
	}
	http.SetCookie(w, &http.Cookie{Name: f.stateCookie(p.State), Value: v, Path: "/", MaxAge: int(f.cfg.FlowTTL.Seconds()),
		HttpOnly: true, Secure: f.secure, SameSite: http.SameSiteLaxMode})
	return p, nil
}

func (f *Flow) stateCookie(state string) string {
	sum := sha256.Sum256([]byte(state))
	return f.prefix + "_st_" + hex.EncodeToString(sum[:8])
}

// Finish reads the callback: the upstream's error, or the state cookie the
// state parameter names. The cookie is deleted whatever happens, so a
// callback cannot be replayed in this browser. On success the caller still
// has to redeem code and check what it gets against p.
func (f *Flow) Finish(w http.ResponseWriter, r *http.Request) (p *Pending, code string, err error) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" || len(state) > 128 || len(q["state"]) > 1 {
		return nil, "", ErrBadState
	}
	name := f.stateCookie(state)
	c, cerr := r.Cookie(name)
	if cerr != nil {
		return nil, "", ErrBadState
	}
	http.SetCookie(w, &http.Cookie{Name: name, Path: "/", MaxAge: -1, HttpOnly: true, Secure: f.secure, SameSite: http.SameSiteLaxMode})
	p = new(Pending)
	if open(f.state, name, c.Value, p) != nil ||
		subtle.ConstantTimeCompare([]byte(p.State), []byte(state)) != 1 || f.cfg.Now().Unix() >= p.Expires {
		return nil, "", ErrBadState
	}
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			return p, "", ErrDenied
		}
		return p, "", &Error{Status: http.StatusBadGateway, Code: "upstream_error", Title: "The identity provider could not sign you in",
			Message: "The identity provider returned an error. Go back to the application and try again.",
			Cause:   fmt.Errorf("upstream error %q: %s", truncate(e, 64), truncate(q.Get("error_description"), 200))}
	}
	code = q.Get("code")
	if code == "" || len(code) > 2048 {
		return p, "", &Error{Status: http.StatusBadRequest, Code: "invalid_request", Title: "This sign-in is not valid",
			Message: "The identity provider sent no authorization code. Go back to the application and try again."}
	}
	return p, code, nil
}

// session is the sealed content of the session cookie.
type session struct {
	Subject string   `json:"sub"`
	Name    string   `json:"name,omitempty"`
	Scopes  []string `json:"scp,omitempty"`
	Limited bool     `json:"lim,omitempty"`
	// Claims are the few provider claims a Config.GrantPolicy may read.
	Claims  map[string]any `json:"c,omitempty"`
	Expires int64          `json:"exp"`
}

// SetSession signs u in for SessionTTL (HttpOnly, SameSite=Lax).
func (f *Flow) SetSession(w http.ResponseWriter, u mcpauth.User) error {
	s := session{Subject: u.Subject, Name: u.Name, Scopes: u.AllowedScopes, Limited: u.AllowedScopes != nil,
		Claims: u.Claims, Expires: f.cfg.Now().Add(f.cfg.SessionTTL).Unix()}
	v, err := seal(f.session, f.prefix, s)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: f.prefix, Value: v, Path: "/", MaxAge: int(f.cfg.SessionTTL.Seconds()),
		HttpOnly: true, Secure: f.secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// User is the user signed in on r, if any.
func (f *Flow) User(r *http.Request) (mcpauth.User, bool) {
	c, err := r.Cookie(f.prefix)
	if err != nil {
		return mcpauth.User{}, false
	}
	var s session
	if open(f.session, f.prefix, c.Value, &s) != nil || s.Subject == "" || f.cfg.Now().Unix() >= s.Expires {
		return mcpauth.User{}, false
	}
	u := mcpauth.User{Subject: s.Subject, Name: s.Name, AllowedScopes: s.Scopes, Claims: s.Claims}
	if s.Limited && u.AllowedScopes == nil {
		u.AllowedScopes = []string{}
	}
	return u, true
}

// ServeCallback answers the provider's redirect back to us (GET only): it
// checks the state, has redeem turn the code into a user, and signs that
// user in, or shows our error page.
func (f *Flow) ServeCallback(w http.ResponseWriter, r *http.Request, redeem func(context.Context, *Pending, string) (mcpauth.User, error)) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p, code, err := f.Finish(w, r)
	if err != nil {
		f.Fail(w, r, p, err)
		return
	}
	u, err := redeem(r.Context(), p, code)
	if err != nil {
		f.Fail(w, r, p, err)
		return
	}
	f.Complete(w, r, p, u)
}

// Complete ends a successful callback: the session, then back to the
// pending request.
func (f *Flow) Complete(w http.ResponseWriter, r *http.Request, p *Pending, u mcpauth.User) {
	if err := f.SetSession(w, u); err != nil {
		f.Fail(w, r, p, &Error{Status: http.StatusInternalServerError, Code: "server_error", Title: "Sign-in failed",
			Message: "The server could not complete your sign-in.", Cause: err})
		return
	}
	ui.SetPageHeaders(w)
	http.Redirect(w, r, p.ReturnTo, http.StatusSeeOther)
}

// Error is a sign-in failure shown to the user as our own error page.
type Error struct {
	Status  int
	Code    string
	Title   string
	Message string
	Cause   error // logged, never shown
	base    *Error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Message + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// Is matches a copy made by With to its original, so errors.Is(err,
// ErrBadState) holds whatever the cause.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && (t == e || t == e.base)
}

// The failures every upstream sign-in shares.
var (
	ErrBadState = &Error{Status: http.StatusBadRequest, Code: "invalid_state", Title: "This sign-in has expired or is not valid",
		Message: "The sign-in could not be matched to a request started in this browser (it may have expired or already been used). Go back to the application and start again."}
	ErrDenied = &Error{Status: http.StatusForbidden, Code: "access_denied", Title: "Sign-in was cancelled",
		Message: "The identity provider did not sign you in. Go back to the application to try again."}
	ErrNotAllowed = &Error{Status: http.StatusForbidden, Code: "access_denied", Title: "This account may not sign in here",
		Message: "Your account is not on this server's allow-list. Ask the administrator for access, or sign in with another account."}
	ErrUnverifiedEmail = &Error{Status: http.StatusForbidden, Code: "unverified_email", Title: "Your e-mail address is not verified",
		Message: "This server admits accounts by e-mail domain, and the identity provider has not verified your address. Verify it there, then try again."}
	ErrUnavailable = &Error{Status: http.StatusBadGateway, Code: "temporarily_unavailable", Title: "The identity provider is not reachable",
		Message: "The identity provider could not be reached or gave an invalid answer. Try again in a moment."}
	ErrInvalidToken = &Error{Status: http.StatusBadGateway, Code: "invalid_token", Title: "The identity provider's answer was not valid",
		Message: "The sign-in could not be verified. Go back to the application and start again."}
)

// With returns a copy of e carrying cause (for the log).
func (e *Error) With(cause error) *Error {
	c := *e
	c.Cause = cause
	if c.base == nil {
		c.base = e
	}
	return &c
}

// Fail logs err and shows our error page; p may be nil.
func (f *Flow) Fail(w http.ResponseWriter, r *http.Request, p *Pending, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: "server_error", Title: "Sign-in failed",
			Message: "The server could not complete your sign-in.", Cause: err}
	}
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelWarn
	}
	f.cfg.Logger.Log(r.Context(), level, "mcpauth: upstream sign-in failed", "kind", f.cfg.Kind, "code", e.Code, "err", err)
	page := ui.Error{Title: e.Title, Message: e.Message, Code: e.Code}
	if p != nil && ValidReturnTo(p.ReturnTo) {
		// The pending request may still be live: back to its sign-in page.
		page.AssetsURL, page.RetryURL = assetsURL(p.ReturnTo), p.ReturnTo
	}
	ui.Render(w, e.Status, "error.html", page)
}

// assetsURL finds our stylesheet from the consent URL a sign-in returns
// to (<issuer>/consent?req=…).
func assetsURL(returnTo string) string {
	u, err := url.Parse(returnTo)
	if err != nil {
		return ""
	}
	base, ok := strings.CutSuffix(u.EscapedPath(), "/consent")
	if !ok {
		return ""
	}
	return base + "/assets/style.css"
}

// ValidReturnTo accepts only an absolute http(s) URL: SignIn's returnTo
// comes from the authorization server, never from the browser.
func ValidReturnTo(returnTo string) bool {
	u, err := url.Parse(returnTo)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && len(returnTo) <= 2048
}

func seal(a cipher.AEAD, name string, v any) (string, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(body)+a.Overhead())
	rand.Read(nonce)
	out := base64.RawURLEncoding.EncodeToString(a.Seal(nonce, nonce, body, []byte(name)))
	if len(out) > maxCookie {
		return "", errors.New("session too large for a cookie")
	}
	return out, nil
}

func open(a cipher.AEAD, name, value string, v any) error {
	if len(value) > maxCookie {
		return errors.New("cookie too large")
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < a.NonceSize() {
		return errors.New("malformed cookie")
	}
	body, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], []byte(name))
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	return host == "127.0.0.1" || host == "::1" || strings.HasPrefix(host, "127.")
}

// ExchangeError classifies a failed code exchange (RFC 6749 §5.2): a
// refused code (invalid_grant: replayed, or from another sign-in) is a bad
// sign-in; anything else means the provider is not answering properly.
func ExchangeError(err error) *Error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
		return ErrBadState.With(err)
	}
	return ErrUnavailable.With(err)
}
