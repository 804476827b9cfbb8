package mcpauth

// This file serves the admin API: JSON endpoints under /admin/ for
// operators to list, create and delete clients and to list and revoke
// grants. Every call, refused ones included, is an audit event.

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/secret"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/store"
)

// AdminScope is the scope a bearer token needs to call the admin API. Grant
// it only to operators (a [Config.GrantPolicy] that drops it for everyone
// else, as the standalone server's -operator does).
const AdminScope = "admin"

// AdminPath is the path below the issuer where [Server.AdminHandler]
// serves; mount the handler at issuer path + AdminPath + "/".
const AdminPath = "/admin"

// Page sizes of the admin API's lists: ?limit= defaults to 100 and may be
// at most AdminOptions.MaxPageSize (default 1,000), which bounds the work of
// one call.
const (
	defaultAdminPageSize    = 100
	defaultAdminMaxPageSize = 1000
)

// Audit events of the admin API. Creating, deleting and revoking emit
// [EventClientRegistered], [EventClientDeleted] and [EventGrantRevoked]
// with Event.Actor set.
const (
	EventAdminClientsListed EventType = "admin.clients.listed"
	EventAdminClientRead    EventType = "admin.client.read"
	EventAdminGrantsListed  EventType = "admin.grants.listed"
	EventAdminRefused       EventType = "admin.refused"
)

// AdminOptions configure [Server.AdminHandler].
type AdminOptions struct {
	// OperatorSecret, when not empty, is accepted as a bearer credential
	// (Authorization: Bearer <secret>), compared in constant time. Use a
	// long random value.
	OperatorSecret string
	// Verifier checks bearer tokens, which must carry [AdminScope]. Nil
	// means a Verifier that checks tokens in process against this Server,
	// with the issuer as the audience.
	Verifier *Verifier
	// Logger receives refusals. Default the Server's logger.
	Logger *slog.Logger
	// MaxPageSize is the largest ?limit= a list accepts. Default
	// 1,000.
	MaxPageSize int
}

// AdminHandler returns the admin API, which answers below the issuer's
// path + [AdminPath]:
//
//	GET    /admin/clients?limit=&cursor=            list clients (never a secret)
//	POST   /admin/clients                           create a client from RFC 7591 §2 metadata; 201 with client_secret, shown once
//	GET    /admin/clients/{id}                      one client
//	DELETE /admin/clients/{id}                      delete it and revoke its grants; 204
//	GET    /admin/grants?subject=&client_id=&limit=&cursor=   list unexpired grants (revoked ones too)
//	DELETE /admin/grants/{id}                       revoke a grant and what was issued from it (as /revoke does); 204
//
// Lists answer {"clients"|"grants": [...], "next_cursor": "..."} in id order;
// next_cursor is present while more remain. Errors are RFC 6749 §5.2 JSON.
// The caller presents Authorization: Bearer with the operator secret or an
// access token carrying [AdminScope] (401 invalid_token with an RFC 6750 §3
// challenge when absent or invalid, 403 insufficient_scope without the
// scope). Every call is an audit event naming its actor (Event.Actor).
func (s *Server) AdminHandler(opts AdminOptions) http.Handler {
	a := &adminAPI{s: s, opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	if a.log == nil {
		a.log = s.log
	}
	if opts.OperatorSecret != "" {
		sum := sha256.Sum256([]byte(opts.OperatorSecret))
		a.secret = sum[:]
	}
	if a.opts.MaxPageSize <= 0 {
		a.opts.MaxPageSize = defaultAdminMaxPageSize
	}
	p := s.basePath + AdminPath
	a.route(p+"/clients", "GET, POST", map[string]adminCall{http.MethodGet: a.listClients, http.MethodPost: a.createClient})
	a.route(p+"/clients/{id}", "GET, DELETE", map[string]adminCall{http.MethodGet: a.getClient, http.MethodDelete: a.deleteClient})
	a.route(p+"/grants", "GET", map[string]adminCall{http.MethodGet: a.listGrants})
	a.route(p+"/grants/{id}", "DELETE", map[string]adminCall{http.MethodDelete: a.revokeGrant})
	a.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		oauth.Write(w, &oauth.Error{Code: "not_found", Description: "no such admin endpoint", Status: http.StatusNotFound})
	})
	return a
}

// adminCall is one admin endpoint; actor names the authenticated caller.
type adminCall func(w http.ResponseWriter, r *http.Request, actor string) error

// route serves path with a handler per method; other methods get 405 with
// Allow, as JSON, before any authentication.
func (a *adminAPI) route(path, allow string, byMethod map[string]adminCall) {
	a.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		h, ok := byMethod[r.Method]
		if !ok {
			w.Header().Set("Allow", allow)
			oauth.Write(w, oauth.MethodNotAllowed(allow))
			return
		}
		// The bounds of every endpoint: the body's arrival time, and the
		// default rate per client IP (one bucket for the whole API), which
		// also slows guessing at the operator secret.
		boundBodyRead(w, r, a.s.cfg.BodyReadTimeout)
		if a.s.limiter != nil {
			if rate, ok := a.s.cfg.RateLimits.For(limits.EndpointDefault); ok {
				if wait := a.s.limiter.Allow(a.s.basePath+AdminPath+"|"+a.s.clientIP(r), rate.Requests, rate.Per); wait > 0 {
					oauth.Write(w, oauth.TooManyRequests(wait))
					return
				}
			}
		}
		a.with(h)(w, r)
	})
}

type adminAPI struct {
	s      *Server
	opts   AdminOptions
	log    *slog.Logger
	secret []byte // SHA-256 of the operator secret, nil when none
	mux    *http.ServeMux

	verifierOnce sync.Once
	verifier     *Verifier
	verifierErr  error
}

func (a *adminAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	a.mux.ServeHTTP(w, r)
}

// with authenticates the caller, then runs h with the caller's name (for
// audit events) and answers its error as RFC 6749 §5.2 JSON.
func (a *adminAPI) with(h adminCall) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		actor, err := a.authenticate(w, r)
		if err == nil {
			err = h(w, r, actor)
		}
		if err != nil {
			oe := oauth.As(err)
			if oe.Status >= 500 {
				a.log.ErrorContext(r.Context(), "mcpauth: admin API", "path", r.URL.Path, "err", err)
			}
			oauth.Write(w, oe)
		}
	}
}

// authenticate accepts the operator secret or a token with AdminScope. A
// refusal is an audit event too (EventAdminRefused), with the challenge set.
func (a *adminAPI) authenticate(w http.ResponseWriter, r *http.Request) (actor string, err error) {
	refuse := func(status int, code, desc string) (string, error) {
		a.log.InfoContext(r.Context(), "mcpauth: admin API refused", "status", status, "error", code, "path", r.URL.Path)
		a.s.emit(r.Context(), Event{Type: EventAdminRefused})
		w.Header().Set("WWW-Authenticate", bearerChallenge(code, desc, AdminScope, ""))
		if code == "" {
			code = "invalid_token"
		}
		return "", &oauth.Error{Code: code, Description: desc, Status: status}
	}
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		if len(values) > 1 {
			return refuse(http.StatusBadRequest, "invalid_request", "more than one Authorization header")
		}
		return refuse(http.StatusUnauthorized, "", "the operator secret or an admin token is required")
	}
	token, err := parseBearer(values[0])
	if err != nil || token == "" {
		return refuse(http.StatusUnauthorized, "invalid_token", "a Bearer credential is required")
	}
	if a.secret != nil {
		sum := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(sum[:], a.secret) == 1 {
			return "operator", nil
		}
	}
	v, err := a.getVerifier()
	if err != nil {
		return "", oauth.ServerError("tokens cannot be verified").WithCause(err)
	}
	g, err := v.Verify(r.Context(), token)
	if err != nil {
		var te *TokenError
		if errors.As(err, &te) {
			return refuse(http.StatusUnauthorized, "invalid_token", te.Description)
		}
		return "", oauth.TemporarilyUnavailable(5*time.Second, "access tokens cannot be verified right now; retry later").WithCause(err)
	}
	if !g.Allows(AdminScope) {
		return refuse(http.StatusForbidden, "insufficient_scope", "the token lacks the "+AdminScope+" scope")
	}
	return "token of " + g.Subject, nil
}

func (a *adminAPI) getVerifier() (*Verifier, error) {
	if a.opts.Verifier != nil {
		return a.opts.Verifier, nil
	}
	a.verifierOnce.Do(func() {
		a.verifier, a.verifierErr = NewVerifier(VerifierOptions{Local: a.s, Audience: a.s.Issuer(), Logger: a.log})
	})
	return a.verifier, a.verifierErr
}

// page reads ?limit= and ?cursor= (the base64url of the last id seen).
func (a *adminAPI) page(r *http.Request) (after string, limit int, err error) {
	limit = min(defaultAdminPageSize, a.opts.MaxPageSize)
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > a.opts.MaxPageSize {
			return "", 0, oauth.InvalidRequest("limit must be an integer from 1 to %d", a.opts.MaxPageSize)
		}
		limit = n
	}
	if v := r.URL.Query().Get("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) == 0 || len(b) > 1024 {
			return "", 0, oauth.InvalidRequest("cursor is not one this API returned")
		}
		after = string(b)
	}
	return after, limit, nil
}

// nextCursor is the cursor after the last of n items when more remain.
func nextCursor(more bool, lastID string) string {
	if !more {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(lastID))
}

// adminClient is a client as the admin API shows it: its RFC 7592 client
// information (never a stored secret) and when it was last used.
type adminClient struct {
	registrationResponse
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// Dynamic: registered through /register (and so managed by RFC 7592).
	Dynamic bool `json:"dynamically_registered"`
}

func (a *adminAPI) view(c *store.Client) adminClient {
	return adminClient{registrationResponse: a.s.clientInformation(c, ""), LastUsedAt: c.LastUsedAt, Dynamic: len(c.RegistrationTokenDigest) > 0}
}

func (a *adminAPI) listClients(w http.ResponseWriter, r *http.Request, actor string) error {
	after, limit, err := a.page(r)
	if err != nil {
		return err
	}
	cs, err := a.s.clients.ListClients(r.Context(), after, limit+1)
	if err != nil {
		return storeErr(err)
	}
	more := len(cs) > limit
	cs = cs[:min(len(cs), limit)]
	out := struct {
		Clients []adminClient `json:"clients"`
		Next    string        `json:"next_cursor,omitempty"`
	}{Clients: []adminClient{}}
	for _, c := range cs {
		out.Clients = append(out.Clients, a.view(c))
	}
	if len(cs) > 0 {
		out.Next = nextCursor(more, cs[len(cs)-1].ID)
	}
	a.s.emit(r.Context(), Event{Type: EventAdminClientsListed, Actor: actor})
	writeJSON(w, http.StatusOK, out, "no-store")
	return nil
}

// createClient registers a client from RFC 7591 §2 metadata, validated as
// /register validates it. The secret is in this answer only.
func (a *adminAPI) createClient(w http.ResponseWriter, r *http.Request, actor string) error {
	req, err := decodeRegistration(r)
	if err != nil {
		return err
	}
	c, err := a.s.validateRegistration(req)
	if err != nil {
		return err
	}
	c.ID = uuid.NewString()
	c.IssuedAt = a.s.now().Truncate(time.Second)
	var plainSecret string
	if !c.IsPublic() {
		plainSecret = secret.New("")
		c.SecretDigest = secret.Sum(plainSecret)
	}
	if err := a.s.clients.SetClient(r.Context(), c); err != nil {
		return storeErr(err)
	}
	a.s.emit(r.Context(), Event{Type: EventClientRegistered, ClientID: c.ID, Actor: actor})
	out := a.view(c)
	out.ClientSecret = plainSecret
	writeJSON(w, http.StatusCreated, out, "no-store")
	return nil
}

func (a *adminAPI) getClient(w http.ResponseWriter, r *http.Request, actor string) error {
	c, err := a.s.clients.peekClient(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return adminNotFound("no such client")
	case err != nil:
		return storeErr(err)
	}
	a.s.emit(r.Context(), Event{Type: EventAdminClientRead, ClientID: c.ID, Actor: actor})
	writeJSON(w, http.StatusOK, a.view(c), "no-store")
	return nil
}

func (a *adminAPI) deleteClient(w http.ResponseWriter, r *http.Request, actor string) error {
	id := r.PathValue("id")
	if _, err := a.s.clients.peekClient(r.Context(), id); errors.Is(err, store.ErrNotFound) {
		return adminNotFound("no such client")
	} else if err != nil {
		return storeErr(err)
	}
	if err := a.s.deleteClient(r.Context(), id, actor); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *adminAPI) listGrants(w http.ResponseWriter, r *http.Request, actor string) error {
	after, limit, err := a.page(r)
	if err != nil {
		return err
	}
	f := store.GrantFilter{Subject: r.URL.Query().Get("subject"), ClientID: r.URL.Query().Get("client_id")}
	gs, err := a.s.grants.ListGrants(r.Context(), f, after, limit+1)
	if err != nil {
		return storeErr(err)
	}
	more := len(gs) > limit
	gs = gs[:min(len(gs), limit)]
	out := struct {
		Grants []*store.GrantRecord `json:"grants"`
		Next   string               `json:"next_cursor,omitempty"`
	}{Grants: []*store.GrantRecord{}}
	out.Grants = append(out.Grants, gs...)
	if len(gs) > 0 {
		out.Next = nextCursor(more, gs[len(gs)-1].ID)
	}
	a.s.emit(r.Context(), Event{Type: EventAdminGrantsListed, Subject: f.Subject, ClientID: f.ClientID, Actor: actor})
	writeJSON(w, http.StatusOK, out, "no-store")
	return nil
}

// revokeGrant ends a grant through the authority, as /revoke does for a
// refresh token: its refresh tokens die, its access tokens are refused at
// once (RequireMCPAuth with Local, /introspect), and in managed mode the
// grant is revoked at Grantex too. Revoking a revoked grant is a success.
func (a *adminAPI) revokeGrant(w http.ResponseWriter, r *http.Request, actor string) error {
	g, err := a.s.grants.GetGrant(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return adminNotFound("no such grant (or it expired)")
	case err != nil:
		return storeErr(err)
	}
	if g.RevokedAt.IsZero() {
		if err := a.s.revokeGrant(r.Context(), g, actor); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func adminNotFound(desc string) error {
	return &oauth.Error{Code: "not_found", Description: desc, Status: http.StatusNotFound}
}
