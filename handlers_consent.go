package mcpauth

// This file implements the browser side of an authorization after the
// request is validated (OAuth 2.1 §4.1.1-§4.1.2): the consent step, its
// decision, and the answer to the client's redirect URI with code, state
// and iss (RFC 9207), or with an error (RFC 6749 §4.1.2.1).

import (
	"context"
	"errors"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/secret"
	"github.com/mcpauth/mcpauth/internal/ui"
	"github.com/mcpauth/mcpauth/store"
)

// consentURL is the consent step of a pending authorization.
func (s *Server) consentURL(pendingID string) string {
	return s.endpoint(pathConsent) + "?req=" + url.QueryEscape(pendingID)
}

// handleConsent shows (GET) and decides (POST) a pending authorization.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) error {
	params, pendingID, p, err := s.pendingRequest(w, r)
	if err != nil {
		return err
	}
	user, ok, err := s.currentUser(r, p)
	if err != nil {
		return noRedirect(err)
	}
	if !ok {
		return s.signIn(w, r, pendingID)
	}
	client, err := s.getClient(r.Context(), p.ClientID)
	if err != nil {
		return err
	}
	req := consentRequest{pendingID: pendingID, p: p, client: client, user: user}
	if r.Method == http.MethodGet {
		_, req.autoApprove = s.consentingUser(r, client)
		return s.show(w, r)(s.authority.consent(r.Context(), req))
	}
	if !s.checkCSRF(r.Context(), params.Get("csrf"), "consent", pendingID, user.Subject) {
		return noRedirect(oauth.InvalidRequest("the form has expired; go back to the application and try again"))
	}
	switch params.Get("decision") {
	case "approve":
		return s.show(w, r)(s.authority.approve(r.Context(), req))
	case "deny":
		return s.deny(r.Context(), pendingID)
	}
	return noRedirect(oauth.InvalidRequest("decision must be approve or deny"))
}

// pendingRequest reads a page request's parameters and the pending
// authorization its req parameter names.
func (s *Server) pendingRequest(w http.ResponseWriter, r *http.Request) (url.Values, string, *store.PendingAuthorization, error) {
	params, err := readParams(w, r, false)
	if err != nil {
		return nil, "", nil, noRedirect(err)
	}
	pendingID := params.Get("req")
	p, err := s.loadPending(r.Context(), pendingID)
	if err != nil {
		return nil, "", nil, err
	}
	return params, pendingID, p, nil
}

// loadPending finds a live pending authorization by its id.
func (s *Server) loadPending(ctx context.Context, pendingID string) (*store.PendingAuthorization, error) {
	if pendingID == "" || len(pendingID) > 128 {
		return nil, noRedirect(oauth.InvalidRequest("this sign-in request is missing or malformed"))
	}
	p, err := s.grants.GetPending(ctx, secret.Digest(pendingID))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noRedirect(oauth.InvalidRequest("this sign-in request has expired or was already used; return to the application and start again"))
	case err != nil:
		return nil, noRedirect(storeErr(err))
	}
	// For the pages and the managed-mode handoff, RedirectURI is where the
	// answer goes; the stored record keeps whether it was requested.
	if p.RedirectURI == "" {
		p.RedirectURI = s.redirectTarget(ctx, p)
	}
	return p, nil
}

// show writes an authorization step, or returns err for the route to
// answer. It reads show(w, r)(authority.consent(...)).
func (s *Server) show(w http.ResponseWriter, r *http.Request) func(step, error) error {
	return func(st step, err error) error {
		switch {
		case err != nil:
			return err
		case st.page != nil:
			ui.Render(w, http.StatusOK, "consent.html", *st.page, st.formTo)
		default:
			if st.toClient {
				ui.SetPageHeaders(w)
			}
			http.Redirect(w, r, st.location, http.StatusFound)
		}
		return nil
	}
}

// approve issues the code for a consented request (local authority).
func (s *Server) approve(ctx context.Context, req consentRequest) (step, error) {
	p, err := s.consumePending(ctx, req.pendingID)
	if err != nil {
		return step{}, err
	}
	// The grant policy again, at issuance: the code and its tokens never
	// carry a scope it does not allow now.
	if p.Scopes, err = s.grantableScopes(ctx, req.user, req.client, p); err != nil {
		return step{}, toClient(p.RedirectURI, p.State, err)
	}
	now := s.now()
	g := &store.GrantRecord{ID: "grnt_" + uuid.NewString(), ClientID: req.client.ID, Subject: req.user.Subject, Scopes: p.Scopes,
		Resource: p.Resource, CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTokenTTL)}
	if err := s.grants.CreateGrant(ctx, g); err != nil {
		return step{}, toClient(s.redirectTarget(ctx, p), p.State, storeErr(err))
	}
	if err := s.allocateDefaultBudget(ctx, g.ID); err != nil {
		return step{}, toClient(s.redirectTarget(ctx, p), p.State, storeErr(err))
	}
	return s.completeAuthorization(ctx, p, g.ID, req.user.Subject, nil)
}

// deny sends access_denied back to the client.
func (s *Server) deny(ctx context.Context, pendingID string) error {
	p, err := s.consumePending(ctx, pendingID)
	if err != nil {
		return err
	}
	s.emit(ctx, Event{Type: EventConsentDenied, ClientID: p.ClientID, Scopes: p.Scopes, Resource: p.Resource})
	return toClient(s.redirectTarget(ctx, p), p.State, oauth.AccessDenied("the user denied the request"))
}

func (s *Server) consumePending(ctx context.Context, pendingID string) (*store.PendingAuthorization, error) {
	p, err := s.grants.ConsumePending(ctx, secret.Digest(pendingID))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noRedirect(oauth.InvalidRequest("this sign-in request has expired or was already used; return to the application and start again"))
	case err != nil:
		return nil, noRedirect(storeErr(err))
	}
	return p, nil
}

// completeAuthorization stores a single-use code for the consented request:
// the step is the redirect to the client with code, state and iss (RFC 9207).
func (s *Server) completeAuthorization(ctx context.Context, p *store.PendingAuthorization, grantID, subject string, upstream []byte) (step, error) {
	target := s.redirectTarget(ctx, p)
	if target == "" {
		return step{}, noRedirect(oauth.InvalidRequest("the application's redirect URI changed during sign-in; return to the application and start again"))
	}
	code := secret.New("")
	rec := &store.CodeRecord{
		GrantID: grantID, ClientID: p.ClientID, Subject: subject, RedirectURI: p.RedirectURI,
		CodeChallenge: p.CodeChallenge, Resource: p.Resource, Scopes: p.Scopes,
		AuthTime: s.now(), ExpiresAt: s.now().Add(s.cfg.CodeTTL),
	}
	if upstream != nil {
		rec.Upstream = secret.Seal(code, "code", upstream)
	}
	if err := s.grants.SaveCode(ctx, secret.Digest(code), rec); err != nil {
		return step{}, toClient(target, p.State, storeErr(err))
	}
	s.emit(ctx, Event{Type: EventConsentGranted, ClientID: p.ClientID, Subject: subject, GrantID: grantID, Scopes: p.Scopes, Resource: p.Resource})
	loc, err := s.clientRedirectURL(target, url.Values{"code": {code}, "state": {p.State}})
	if err != nil {
		return step{}, err
	}
	return step{location: loc, toClient: true}, nil
}

// redirectError sends an error to the client's redirect URI, or shows it when
// it must not be redirected.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state string, err error) {
	oe := oauth.As(err)
	s.logError(r, oe)
	if oe.NoRedirect || redirectURI == "" {
		s.fail(w, r, false, oe)
		return
	}
	v := url.Values{"error": {oe.Code}, "state": {state}}
	if oe.Description != "" {
		v.Set("error_description", oe.Description)
	}
	s.redirectToClient(w, r, redirectURI, v)
}

// redirectToClient answers 302 to the client's redirect URI with params
// and iss.
func (s *Server) redirectToClient(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	loc, err := s.clientRedirectURL(redirectURI, params)
	if err != nil {
		s.fail(w, r, false, err)
		return
	}
	ui.SetPageHeaders(w)
	http.Redirect(w, r, loc, http.StatusFound)
}

// clientRedirectURL appends params (empty ones dropped) and iss (RFC 9207)
// to the redirect URI, keeping its own query.
func (s *Server) clientRedirectURL(redirectURI string, params url.Values) (string, error) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return "", oauth.ServerError("bad redirect URI").WithCause(err)
	}
	q := u.Query()
	for k, vs := range params {
		if len(vs) == 1 && vs[0] == "" {
			continue
		}
		q[k] = vs
	}
	q.Set("iss", s.cfg.Issuer)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// renderError shows an error page (phase 1 errors, expired requests).
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, oe *oauth.Error) {
	s.renderErrorPage(w, oe, ui.Host{})
}

// renderErrorPage shows an error page; host, when set, is where the
// application wanted the answer sent.
func (s *Server) renderErrorPage(w http.ResponseWriter, oe *oauth.Error, host ui.Host) {
	title := "Something went wrong"
	switch {
	case oe.Status == http.StatusTooManyRequests:
		title = "Too many attempts"
	case oe.Status >= 500:
		title = "The server could not complete your request"
	case oe.Code == "invalid_client" || oe.Code == "invalid_request":
		title = "This authorization request is not valid"
	}
	if oe.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(oe.RetryAfter.Seconds()))))
	}
	ui.Render(w, oe.Status, "error.html", ui.Error{Brand: s.brand(), Title: title, Message: oe.Description, Code: oe.Code, RedirectHost: host})
}

func (s *Server) brand() ui.Brand {
	b := s.cfg.ConsentUI
	return ui.Brand{AppName: b.AppName, AppLogo: template.URL(b.AppLogo), PrivacyURL: b.PrivacyURL, TermsURL: b.TermsURL, AssetsURL: s.basePath + pathAssets + "style.css"}
}

// handleAssets serves the embedded stylesheet.
func (s *Server) handleAssets(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != s.basePath+pathAssets+"style.css" {
		return &oauth.Error{Code: "not_found", Description: "no such endpoint", Status: http.StatusNotFound}
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.WriteHeader(http.StatusOK) // explicit: routers may pre-set another status (gin's NoRoute: 404)
	_, _ = w.Write(ui.StyleCSS)
	return nil
}
