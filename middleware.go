package mcpauth

// This file implements the resource server middleware: RFC 6750 bearer
// token usage and its WWW-Authenticate challenges, with the RFC 9728 §5.1
// resource_metadata parameter the MCP authorization spec requires.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/internal/oauth"
)

// RequireMCPAuthOptions configure [RequireMCPAuth]. Either Verifier is
// set, or the embedded [VerifierOptions] (Audience and one of Local,
// JWKSURL, Issuer) build one.
type RequireMCPAuthOptions struct {
	// Verifier checks tokens. When nil, one is built from VerifierOptions
	// with [NewVerifier].
	Verifier *Verifier
	// VerifierOptions configure the Verifier built when Verifier is nil.
	// Audience, this MCP server's canonical URL (RFC 8707 §2), is required
	// unless the Verifier has one; when both are set, tokens must match
	// both. Logger also receives rejections (debug) and verification
	// outages (warn).
	VerifierOptions

	// RequiredScopes must all be covered by the token's scopes, honouring
	// scope hierarchy (see [Grant.Allows]); otherwise the answer is 403
	// insufficient_scope naming all of them (RFC 6750 §3.1). offline_access
	// is never required and is dropped.
	RequiredScopes []string
	// ChallengeScopes are advertised as scope in 401 challenges (RFC 6750
	// §3; MCP 2025-11-25 §Scope Selection Strategy), telling clients what to ask for. Default RequiredScopes.
	ChallengeScopes []string
	// RequestScopes, when set, returns the scopes one request needs on top
	// of RequiredScopes, for servers whose operations need different
	// scopes (sdkauth.ToolScopes reads the MCP operation from the JSON-RPC
	// body). It runs only for requests with a valid token, before the next
	// handler, and may read r.Body if it puts an equivalent body back. A
	// token lacking any of RequiredScopes and RequestScopes(r) gets 403
	// insufficient_scope naming all of them, so that the client can step up
	// to everything the operation needs in one authorization (MCP
	// 2025-11-25 §Scope Challenge Handling, RFC 6750 §3.1). If it returns
	// an error the request is refused: an *http.MaxBytesError with 413,
	// anything else with 400 invalid_request whose description is the
	// error text (so write it for the client; what it wraps is only logged).
	RequestScopes func(r *http.Request) ([]string, error)
	// ResourceMetadataURL is the RFC 9728 metadata URL sent in every
	// challenge as resource_metadata (RFC 9728 §5.1). Default: derived from
	// Audience by [ProtectedResourceMetadataURL].
	ResourceMetadataURL string
}

// RequireMCPAuth returns middleware that lets a request through only with a
// valid bearer access token (RFC 6750 §2.1) for this resource, and puts its
// [*Grant] in the request context ([GrantFromContext]). Every request is
// checked; nothing is remembered per session (MCP 2025-11-25 §Token
// Handling), though verified
// tokens are cached by digest until they expire.
//
// Responses (RFC 6750 §3, RFC 9728 §5.1), each with a JSON body
// {"error", "error_description"} and Cache-Control: no-store:
//
//   - no Authorization header, or a scheme other than Bearer: 401,
//     WWW-Authenticate: Bearer scope="…", resource_metadata="…" (no error
//     attribute: the client sent no Bearer credentials, RFC 6750 §3.1);
//   - a token that is malformed, badly signed, expired, not yet valid, for
//     another issuer or audience, revoked, or not an access token: 401,
//     Bearer error="invalid_token", error_description, scope, resource_metadata;
//   - a valid token lacking a required scope: 403, Bearer
//     error="insufficient_scope", scope="<every required scope>", resource_metadata;
//   - a malformed Authorization header, several of them, or an
//     access_token query parameter: 400, Bearer error="invalid_request".
//     Tokens in the URL are never accepted (OAuth 2.1 §5.2; they end up in
//     logs and Referer headers), and saying so beats a silent 401;
//   - keys not yet available (JWKS unreachable on a cold start) or the
//     local authority's store down: 503 temporarily_unavailable with
//     Retry-After; never 200.
//
// Every method is checked, OPTIONS included: put CORS handling in front of
// it if browsers call the endpoint cross-origin.
//
// With RequestScopes, a request may also get 403 for the scopes of its
// particular operation, or 400 or 413 when RequestScopes cannot tell
// what that operation is.
//
// RequireMCPAuth is like [NewRequireMCPAuth] but panics if the options
// are invalid. It simplifies setting up a server whose options are fixed
// in code.
func RequireMCPAuth(opts *RequireMCPAuthOptions) func(http.Handler) http.Handler {
	mw, err := NewRequireMCPAuth(opts)
	if err != nil {
		panic(err)
	}
	return mw
}

// NewRequireMCPAuth returns the middleware described at [RequireMCPAuth],
// or an error if opts is nil, cannot make a Verifier, lacks an audience,
// or names a scope that is not a valid RFC 6749 §3.3 scope token.
func NewRequireMCPAuth(opts *RequireMCPAuthOptions) (func(http.Handler) http.Handler, error) {
	a, err := newBearerAuth(opts)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.serve(next, w, r) })
	}, nil
}

type bearerAuth struct {
	v              *Verifier
	audience       string // checked in addition to the Verifier's, when it differs
	required       []string
	requiredScope  string // pre-joined
	challengeScope string
	prm            string
	requestScopes  func(*http.Request) ([]string, error)
	log            *slog.Logger
}

func newBearerAuth(opts *RequireMCPAuthOptions) (*bearerAuth, error) {
	if opts == nil {
		return nil, errors.New("mcpauth: RequireMCPAuth needs options (at least Audience and an Issuer)")
	}
	a := &bearerAuth{v: opts.Verifier, requestScopes: opts.RequestScopes, log: opts.Logger}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.v == nil {
		v, err := NewVerifier(opts.VerifierOptions)
		if err != nil {
			return nil, err
		}
		a.v = v
	} else if opts.Audience != "" && opts.Audience != a.v.rules.audience {
		a.audience = opts.Audience
	}
	if opts.Audience == "" && a.v.rules.audience == "" {
		return nil, errors.New("mcpauth: RequireMCPAuth needs Audience, this MCP server's canonical URL: tokens must be bound to it (RFC 8707)")
	}
	var err error
	if a.required, err = challengeScopeList("RequiredScopes", opts.RequiredScopes); err != nil {
		return nil, err
	}
	a.requiredScope = strings.Join(a.required, " ")
	a.challengeScope = a.requiredScope
	if opts.ChallengeScopes != nil {
		cs, err := challengeScopeList("ChallengeScopes", opts.ChallengeScopes)
		if err != nil {
			return nil, err
		}
		a.challengeScope = strings.Join(cs, " ")
	}
	a.prm = opts.ResourceMetadataURL
	if a.prm == "" {
		resource := opts.Audience
		if resource == "" {
			resource = a.v.rules.audience
		}
		if a.prm, err = ProtectedResourceMetadataURL(resource); err != nil {
			return nil, fmt.Errorf("mcpauth: cannot derive ResourceMetadataURL: %w", err)
		}
	}
	return a, nil
}

// challengeScopeList validates scope tokens and drops offline_access: a
// resource server never requires or advertises it (MCP 2025-11-25
// §Scope Selection Strategy; it asks the authorization server for refresh
// tokens, RFC 6749 §6).
func challengeScopeList(field string, scopes []string) ([]string, error) {
	var out []string
	for _, s := range scopes {
		if !validScopeToken(s) {
			return nil, fmt.Errorf("mcpauth: %s: %q is not a scope token (RFC 6749 §3.3)", field, s)
		}
		if s != "offline_access" && !containsString(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// validScopeToken: 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func (a *bearerAuth) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.RawQuery, "access_token") && r.URL.Query().Has("access_token") {
		a.reject(w, r, http.StatusBadRequest, "invalid_request", "access tokens are not accepted in the URL; send an Authorization: Bearer header", nil)
		return
	}
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		a.reject(w, r, http.StatusUnauthorized, "", "missing bearer token", nil)
		return
	}
	if len(values) > 1 {
		a.reject(w, r, http.StatusBadRequest, "invalid_request", "more than one Authorization header", nil)
		return
	}
	token, err := parseBearer(values[0])
	switch {
	case errors.Is(err, errNotBearer):
		a.reject(w, r, http.StatusUnauthorized, "", "missing bearer token: the Bearer scheme is required", nil)
		return
	case err != nil:
		a.reject(w, r, http.StatusBadRequest, "invalid_request", "malformed Authorization header", err)
		return
	}
	g, err := a.v.Verify(r.Context(), token)
	if err != nil {
		var te *TokenError
		var ue *UnavailableError
		switch {
		case errors.As(err, &te):
			a.reject(w, r, http.StatusUnauthorized, "invalid_token", te.Description, te.Err)
		case errors.As(err, &ue):
			a.log.LogAttrs(r.Context(), slog.LevelWarn, "mcpauth: cannot verify access tokens", slog.Any("err", ue.Err))
			oauth.Write(w, oauth.TemporarilyUnavailable(max(ue.RetryAfter, time.Second), "access tokens cannot be verified right now; retry later"))
		default: // the client went away (or an unexpected error): never let it through
			if r.Context().Err() == nil {
				a.log.LogAttrs(r.Context(), slog.LevelError, "mcpauth: token verification failed", slog.Any("err", err))
			}
			oauth.Write(w, oauth.TemporarilyUnavailable(time.Second, "access tokens cannot be verified right now; retry later"))
		}
		return
	}
	if a.audience != "" && !audienceMatches(g.Audience, a.audience) {
		a.reject(w, r, http.StatusUnauthorized, "invalid_token", "token is not meant for this resource", nil)
		return
	}
	required, requiredScope := a.required, a.requiredScope
	if a.requestScopes != nil {
		extra, err := a.requestScopes(r)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				oauth.Write(w, &oauth.Error{Code: "invalid_request", Description: fmt.Sprintf("the request body exceeds %d bytes", tooBig.Limit), Status: http.StatusRequestEntityTooLarge})
				return
			}
			a.reject(w, r, http.StatusBadRequest, "invalid_request", err.Error(), errors.Unwrap(err))
			return
		}
		if required, err = addScopes(required, extra); err != nil {
			a.log.LogAttrs(r.Context(), slog.LevelError, "mcpauth: RequestScopes", slog.Any("err", err))
			oauth.Write(w, &oauth.Error{Code: "server_error", Description: "the server's scope configuration is invalid", Status: http.StatusInternalServerError})
			return
		}
		if len(required) > len(a.required) {
			requiredScope = strings.Join(required, " ")
		}
	}
	if len(required) > 0 && !g.Allows(required...) {
		a.rejectScope(w, r, requiredScope)
		return
	}
	next.ServeHTTP(w, r.WithContext(ContextWithGrant(r.Context(), g)))
}

// addScopes returns base with the scopes of extra it lacks appended (base
// is not modified), dropping offline_access as challengeScopeList does.
func addScopes(base, extra []string) ([]string, error) {
	out := base
	for _, s := range extra {
		if !validScopeToken(s) {
			return nil, fmt.Errorf("%q is not a scope token (RFC 6749 §3.3)", s)
		}
		if s == "offline_access" || containsString(out, s) {
			continue
		}
		if len(out) == len(base) {
			out = slices.Clip(base) // the first append copies
		}
		out = append(out, s)
	}
	return out, nil
}

// rejectScope answers 403 insufficient_scope naming every scope the
// request needs (RFC 6750 §3.1; MCP 2025-11-25 §Scope Challenge Handling).
func (a *bearerAuth) rejectScope(w http.ResponseWriter, r *http.Request, scope string) {
	a.challenge(w, r, http.StatusForbidden, "insufficient_scope", "the token lacks a required scope: "+scope, scope, nil)
}

// reject writes an RFC 6750 §3 challenge and JSON error body. code "" means
// no credentials were sent: the challenge then carries no error attribute.
func (a *bearerAuth) reject(w http.ResponseWriter, r *http.Request, status int, code, desc string, cause error) {
	a.challenge(w, r, status, code, desc, a.challengeScope, cause)
}

// challenge writes a challenge with the given scope attribute.
func (a *bearerAuth) challenge(w http.ResponseWriter, r *http.Request, status int, code, desc, scope string, cause error) {
	if a.log.Enabled(r.Context(), slog.LevelDebug) {
		attrs := []slog.Attr{slog.Int("status", status), slog.String("error", code), slog.String("description", desc)}
		if cause != nil {
			attrs = append(attrs, slog.String("cause", cause.Error()))
		}
		a.log.LogAttrs(r.Context(), slog.LevelDebug, "mcpauth: request refused", attrs...)
	}
	w.Header().Set("WWW-Authenticate", bearerChallenge(code, desc, scope, a.prm))
	bodyCode := code
	if bodyCode == "" {
		bodyCode = "invalid_token"
	}
	oauth.Write(w, &oauth.Error{Code: bodyCode, Description: desc, Status: status})
}

// bearerChallenge formats a Bearer challenge (RFC 6750 §3, RFC 9110
// §11.6.1) with properly escaped quoted-string values.
func bearerChallenge(code, desc, scope, resourceMetadata string) string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	param := func(name, value string) {
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteString(`="`)
		writeQuoted(&b, value)
		b.WriteByte('"')
		sep = ", "
	}
	if code != "" {
		param("error", code)
		if desc != "" {
			param("error_description", sanitizeDescription(desc))
		}
	}
	if scope != "" {
		param("scope", scope)
	}
	if resourceMetadata != "" {
		param("resource_metadata", resourceMetadata)
	}
	return b.String()
}

// writeQuoted writes s as the inside of an RFC 9110 §5.6.4 quoted-string:
// DQUOTE and backslash are escaped; control and non-ASCII bytes, which have
// no place in a header, become "?".
func writeQuoted(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t' || (c >= 0x20 && c < 0x7f):
			b.WriteByte(c)
		default:
			b.WriteByte('?')
		}
	}
}

// sanitizeDescription keeps error_description within RFC 6750 §3's
// %x20-21 / %x23-5B / %x5D-7E.
func sanitizeDescription(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	out := []byte(s)
	for i, c := range out {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			out[i] = '\''
		}
	}
	return string(out)
}

var (
	errNotBearer       = errors.New("not the Bearer scheme")
	errMalformedBearer = errors.New("malformed Bearer credentials")
)

// parseBearer reads the credentials of an Authorization header (RFC 9110
// §11.6.2) with the Bearer scheme (RFC 6750 §2.1):
//
//	credentials = "Bearer" 1*SP b64token
//	b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//
// The scheme is case-insensitive. It returns errNotBearer for another (or
// no) scheme, errMalformedBearer for a Bearer header that breaks the grammar.
func parseBearer(h string) (string, error) {
	h = strings.Trim(h, " \t")
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		if len(scheme) > 6 && strings.EqualFold(scheme[:6], "Bearer") && (scheme[6] == '\t') {
			return "", errMalformedBearer
		}
		return "", errNotBearer
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" {
		return "", errMalformedBearer
	}
	i := 0
	for i < len(token) && isB64TokenChar(token[i]) {
		i++
	}
	if i == 0 {
		return "", errMalformedBearer
	}
	for i < len(token) && token[i] == '=' {
		i++
	}
	if i != len(token) {
		return "", errMalformedBearer
	}
	return token, nil
}

func isB64TokenChar(c byte) bool { return b64TokenChars[c] }

// b64TokenChars marks RFC 6750 §2.1's b64token characters but '=': a table,
// since every character of every bearer token is looked up.
var b64TokenChars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	return t
}()

type grantKey struct{}

// ContextWithGrant returns a copy of ctx carrying g, as [RequireMCPAuth]
// does for the requests it lets through.
func ContextWithGrant(ctx context.Context, g *Grant) context.Context {
	return context.WithValue(ctx, grantKey{}, g)
}

// GrantFromContext returns the verified grant [RequireMCPAuth] put in ctx.
// The Grant is shared by requests bearing the same token; do not modify it.
//
// In tool handlers of the MCP Go SDK's stateful streamable transport, ctx
// descends from the request that created the session, not the current one:
// use sdkauth.GrantFromRequest there.
func GrantFromContext(ctx context.Context) (*Grant, bool) {
	g, ok := ctx.Value(grantKey{}).(*Grant)
	return g, ok && g != nil
}
