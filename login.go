package mcpauth

// This file implements the built-in sign-in page and its session cookie.

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/internal/browser"
	"github.com/mcpauth/mcpauth/internal/display"
	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/secret"
	"github.com/mcpauth/mcpauth/internal/ui"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/store"
)

// sessionTTL is how long a built-in login lasts within a browser session.
const sessionTTL = 12 * time.Hour

// session is the signed content of the login cookie.

// cookieName uses the __Host- prefix where the browser allows it (https).
func (s *Server) cookieName() string {
	if s.issuer.Scheme == "https" {
		return "__Host-mcpauth_session"
	}
	return "mcpauth_session"
}

// consentingUser is the signed-in user of r when the Authenticator answers
// the consent step itself and approves client's request
// ([ConsentingAuthenticator]).
func (s *Server) consentingUser(r *http.Request, client *store.Client) (User, bool) {
	ca, ok := s.cfg.Authenticator.(ConsentingAuthenticator)
	if !ok {
		return User{}, false
	}
	u, ok, err := ca.Authenticate(r)
	if err != nil || !ok || u.Subject == "" || !ca.Consents(r, client) {
		return User{}, false
	}
	if u.Name == "" {
		u.Name = u.Subject
	}
	return u, true
}

// currentUser finds who is consenting: the built-in login cookie, the host's
// Authenticator, or, in managed mode without either, the client itself (see
// README).
func (s *Server) currentUser(r *http.Request, p *store.PendingAuthorization) (User, bool, error) {
	switch {
	case s.cfg.Authenticator != nil:
		u, ok, err := s.cfg.Authenticator.Authenticate(r)
		if err != nil || !ok {
			return User{}, false, err
		}
		if u.Name == "" {
			u.Name = u.Subject
		}
		return u, u.Subject != "", nil
	case len(s.users) > 0 || len(s.cfg.SignInProviders) > 0:
		if len(s.users) > 0 {
			if u, ok, err := s.sessionUser(r); err != nil || ok {
				return u, ok, err
			}
		}
		return s.providerUser(r)
	default:
		s.log.Warn("mcpauth: no Authenticator or Users configured: the Grantex principal is the client_id", "client_id", p.ClientID)
		return User{Subject: p.ClientID, Name: p.ClientID}, true, nil
	}
}

// signIn sends the browser to sign in and come back to the consent step.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, pendingID string) error {
	if s.cfg.Authenticator != nil {
		s.cfg.Authenticator.SignIn(w, r, s.consentURL(pendingID))
		return nil
	}
	http.Redirect(w, r, s.endpoint(pathLogin)+"?req="+url.QueryEscape(pendingID), http.StatusFound)
	return nil
}

// handleLogin serves the built-in username/password page.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	if len(s.users) == 0 && len(s.cfg.SignInProviders) == 0 {
		return &oauth.Error{Code: "not_found", Description: "this server has no login page", Status: http.StatusNotFound}
	}
	params, pendingID, p, err := s.pendingRequest(w, r)
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet && params.Has("provider") {
		return s.startProviderSignIn(w, r, pendingID, params.Get("provider"))
	}
	if r.Method == http.MethodPost && len(s.users) == 0 {
		return noRedirect(oauth.InvalidRequest("password sign-in is turned off on this server"))
	}
	page := ui.Login{Brand: s.brand(), Action: s.basePath + pathLogin, RequestID: pendingID,
		Passwords: len(s.users) > 0, Providers: s.providerLinks(pendingID)}
	if c, err := s.getClient(r.Context(), p.ClientID); err == nil {
		if display.Safe(c.Name) {
			page.ClientName = c.Name
		}
		page.Unverified = !s.trustedRedirect(c)
	}
	// Login CSRF: the form's token is bound to a nonce cookie of this
	// browser, so another site cannot sign the victim in as itself.
	nonce := s.loginNonce(w, r)
	page.CSRF, err = s.csrfToken(r.Context(), "login", pendingID, nonce)
	if err != nil {
		return noRedirect(storeErr(err))
	}
	if r.Method == http.MethodGet {
		ui.Render(w, http.StatusOK, "login.html", page)
		return nil
	}
	if !s.checkCSRF(r.Context(), params.Get("csrf"), "login", pendingID, nonce) {
		return noRedirect(oauth.InvalidRequest("the form has expired; go back to the application and try again"))
	}
	username, password := params.Get("username"), params.Get("password")
	user, lerr := s.checkLogin(r, username, password)
	if lerr != nil {
		// Wrong, throttled (429) or busy (503): the login page again, with
		// the reason and, when retrying helps, Retry-After (RFC 9110 §10.2.3).
		s.log.Debug("mcpauth: sign-in refused", "status", lerr.Status, "reason", lerr.Description)
		if lerr.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((lerr.RetryAfter+time.Second-1)/time.Second)))
		}
		page.Username, page.Error = username, lerr.Description
		ui.Render(w, lerr.Status, "login.html", page)
		return nil
	}
	if err := s.setSession(r.Context(), w, user); err != nil {
		return noRedirect(storeErr(err))
	}
	http.SetCookie(w, &http.Cookie{Name: s.loginNonceName(), Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.issuer.Scheme == "https"})
	http.Redirect(w, r, s.consentURL(pendingID), http.StatusSeeOther)
	return nil
}

// handleLogout is "Not you? Sign out" on the consent page: it clears the
// session cookie and returns to the login page for the same pending
// request. It takes the consent form's CSRF token (bound to the request and
// the signed-in user), so another site cannot sign the user out.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if len(s.users) == 0 {
		return &oauth.Error{Code: "not_found", Description: "this server has no login page", Status: http.StatusNotFound}
	}
	params, pendingID, _, err := s.pendingRequest(w, r)
	if err != nil {
		return err
	}
	user, signedIn, err := s.sessionUser(r)
	if err != nil {
		return noRedirect(storeErr(err))
	}
	if signedIn && !s.checkCSRF(r.Context(), params.Get("csrf"), "consent", pendingID, user.Subject) {
		return noRedirect(oauth.InvalidRequest("the form has expired; go back to the application and try again"))
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.issuer.Scheme == "https", SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, s.endpoint(pathLogin)+"?req="+url.QueryEscape(pendingID), http.StatusSeeOther)
	return nil
}

func (s *Server) loginNonceName() string {
	return strings.Replace(s.cookieName(), "session", "login", 1)
}

// loginNonce returns this browser's login nonce, setting a new one (and
// the cookie) when it has none. SameSite=Lax keeps it off cross-site POSTs.
func (s *Server) loginNonce(w http.ResponseWriter, r *http.Request) string {
	name := s.loginNonceName()
	if c, err := r.Cookie(name); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	nonce := secret.New("")
	http.SetCookie(w, &http.Cookie{Name: name, Value: nonce, Path: "/", HttpOnly: true,
		Secure: s.issuer.Scheme == "https", SameSite: http.SameSiteLaxMode, MaxAge: int(s.cfg.CodeTTL.Seconds())})
	return nonce
}

// checkLogin verifies a password in constant time, spending the same work
// for unknown usernames. It enforces the login bounds: the per-account
// back-off and per-address attempt limit are asked first (they cost no
// hashing), then the password is hashed in one of PasswordCheckConcurrency
// slots. Its error's Status and Description are for the login page.
func (s *Server) checkLogin(r *http.Request, username, password string) (User, *oauth.Error) {
	key := backoffKey(username)
	refused := func() *oauth.Error {
		if s.pwBackoff == nil {
			return nil
		}
		if wait := s.pwBackoff.Wait(key); wait > 0 {
			return loginThrottled(wait, "Too many failed sign-ins for this account. Please try again in %s.")
		}
		return nil
	}
	if oe := refused(); oe != nil {
		s.metrics.loginFailure("throttled")
		return User{}, oe
	}
	if s.limiter != nil {
		if rate, ok := s.cfg.RateLimits.For(limits.EndpointLogin); ok {
			if wait := s.limiter.Allow("login|"+s.clientIP(r), rate.Requests, rate.Per); wait > 0 {
				s.metrics.rateLimit(limits.EndpointLogin)
				s.metrics.loginFailure("throttled")
				return User{}, loginThrottled(wait, "Too many sign-in attempts from your network. Please try again in %s.")
			}
		}
	}
	u, known := s.users[username]
	ok := false
	if len(password) <= maxPasswordLen {
		if !s.acquirePasswordCheck(r.Context()) {
			return User{}, s.loginBusy()
		}
		var oe *oauth.Error
		func() {
			defer s.releasePasswordCheck()
			// Guesses queued for the same account may have locked it meanwhile.
			if oe = refused(); oe != nil {
				return
			}
			h := s.pwDummy
			if known {
				if parsed, err := browser.ParseHash(u.PasswordHash); err == nil {
					h = parsed
				}
			}
			s.pwChecks.Add(1)
			ok = h.Check(password) && known
		}()
		if oe != nil {
			return User{}, oe
		}
	}
	if !ok {
		s.metrics.loginFailure("invalid_credentials")
		if s.pwBackoff != nil {
			s.pwBackoff.Fail(key)
		}
		return User{}, &oauth.Error{Code: "access_denied", Status: http.StatusUnauthorized, Description: "Incorrect username or password."}
	}
	if s.pwBackoff != nil {
		s.pwBackoff.Reset(key)
	}
	return User{Subject: u.Subject, Name: u.Username}, nil
}

// setSession issues the signed, HttpOnly, SameSite=Lax session cookie.
func (s *Server) setSession(ctx context.Context, w http.ResponseWriter, u User) error {
	keys, err := s.keys.SessionKeys(ctx)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(),
		Value:    browser.SealSession(keys[0], u.Subject, u.Name, s.now().Add(sessionTTL)),
		Path:     "/",
		HttpOnly: true,
		Secure:   s.issuer.Scheme == "https",
		SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// sessionUser reads the session cookie, accepting any live key's signature.
func (s *Server) sessionUser(r *http.Request) (User, bool, error) {
	c, err := r.Cookie(s.cookieName())
	if err != nil || !strings.Contains(c.Value, ".") {
		return User{}, false, nil
	}
	keys, err := s.keys.SessionKeys(r.Context())
	if err != nil {
		return User{}, false, err
	}
	sub, name, ok := browser.OpenSession(keys, c.Value, s.now())
	return User{Subject: sub, Name: name}, ok, nil
}

// csrfToken binds a form to its pending request and, for consent, to the
// signed-in user, so a cross-site page can neither forge nor replay it.
func (s *Server) csrfToken(ctx context.Context, purpose, pendingID, subject string) (string, error) {
	keys, err := s.keys.SessionKeys(ctx)
	if err != nil {
		return "", err
	}
	return browser.CSRFToken(keys[0], purpose, pendingID, subject), nil
}

func (s *Server) checkCSRF(ctx context.Context, token, purpose, pendingID, subject string) bool {
	if token == "" {
		return false
	}
	keys, err := s.keys.SessionKeys(ctx)
	if err != nil {
		return false
	}
	return browser.CheckCSRF(keys, token, purpose, pendingID, subject)
}
