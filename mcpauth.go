// Package mcpauth turns a Go MCP server into an OAuth 2.1 protected resource
// with its own authorization server.
//
// [NewServer] returns an [http.Handler] serving the authorization server:
// RFC 8414 metadata, RFC 7591 dynamic client registration, the authorization
// endpoint with sign-in and consent pages, the token endpoint (authorization
// code with RFC 7636 PKCE, refresh with rotation), RFC 7662 introspection,
// RFC 7009 revocation and a JWKS. [RequireMCPAuth] is the resource-server
// half: middleware that verifies bearer JWTs against a cached JWKS and answers
// with RFC 6750 / RFC 9728 challenges.
//
// Two authorities stand behind one code path. The local authority (the
// default) signs its own RFC 9068 JWTs and shows its own consent page. With
// [Config.Grantex].Client set, consent and token issuance are delegated to a Grantex
// service; MCP clients still receive this server's codes and refresh tokens.
package mcpauth

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/mcpauth/mcpauth/grantex"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/store"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Config configures a [Server]. Required are Issuer, at least one of
// Scopes, and who consents: in local mode one of Users (the built-in login
// page), SignInProviders or an Authenticator (Users and SignInProviders may
// be combined; an Authenticator excludes both); in managed mode (Grantex
// set) AgentID. Everything else has a default documented on its field; the
// stores default to memory, which suits one process only. [NewServer]
// reports a missing or invalid field as a [*ConfigError] naming it.
type Config struct {
	// Issuer is the authorization server's issuer identifier (RFC 8414 §2):
	// https, or http on a loopback host; no query or fragment. It is used
	// byte for byte in metadata, tokens and the RFC 9207 iss parameter.
	Issuer string

	// Scopes are the scopes clients may request (scopes_supported).
	// offline_access is added when refresh tokens can be issued.
	Scopes []string
	// ScopeDescriptions are the human-readable texts shown on the consent page.
	ScopeDescriptions map[string]string
	// DefaultScopes are granted when a request names none. Default: Scopes.
	DefaultScopes []string

	// Resources is the RFC 8707 allow-list of resource indicators (the MCP
	// servers' canonical URLs). Empty means any absolute URI without a fragment.
	Resources []string
	// AllowedRedirectURIs restricts the redirect URIs clients may register.
	// Empty means any URI that passes the RFC 8252 / OAuth 2.1 checks.
	AllowedRedirectURIs []string

	// Grantex selects managed mode (Grantex.Client set) and names the agent
	// that local tokens carry in the Grantex claim shape.
	Grantex GrantexConfig

	// Authenticator identifies the user behind a browser request (the host's
	// own sign-in). Nil with Users set selects the built-in login page.
	Authenticator Authenticator
	// Users are the accounts of the built-in login page; see HashPassword.
	Users []PasswordUser
	// SignInProviders are upstream identity providers (packages authn/oidc,
	// authn/github) offered as "Continue with <Name>" buttons on the built-in
	// login page, beside the password form when Users is set or instead of it.
	SignInProviders []SignInProvider
	// GrantPolicy decides which of the requested scopes the signed-in user
	// may grant the client (RFC 6749 §3.3: the authorization server may
	// grant fewer scopes than requested, and says so in the token
	// response's scope). It runs in both modes before consent is shown,
	// so the consent page lists only what it allows, and again when the
	// grant is made; scopes it returns that were not requested are
	// ignored, and a request left with nothing to grant fails with
	// invalid_scope. Returning an error wrapping [ErrAccessDenied] or
	// [ErrInvalidScope] sends that error to the client (RFC 6749 §4.1.2.1);
	// any other error is a server_error. Refresh keeps the grant's scopes:
	// revoke grants to withdraw what a policy no longer allows. Nil grants
	// every requested scope.
	GrantPolicy func(ctx context.Context, req GrantRequest) ([]string, error)

	// StaticClients are pre-registered clients (RFC 7591 is not needed for them).
	StaticClients []store.Client
	// DisableRegistration turns off POST /register.
	DisableRegistration bool
	// DisableClientIDMetadataDocuments turns off Client ID Metadata Documents
	// (draft-ietf-oauth-client-id-metadata-document-00, MCP 2025-11-25): by
	// default an https client_id is resolved by fetching the client's metadata
	// from that URL (SSRF-guarded, cached per Cache-Control), and metadata
	// advertises client_id_metadata_document_supported.
	DisableClientIDMetadataDocuments bool
	// AllowAnonymousIntrospection lets /introspect answer without client
	// authentication. Off by default: an open
	// introspection endpoint is a token-scanning oracle.
	//
	// Warning: with it set, anyone holding a token string learns whether it
	// is live, its subject, scopes, client and grant, whoever the token was
	// issued to; Introspectors no longer restricts anything (a caller would
	// just drop its credentials). Use it only for resource servers that
	// cannot authenticate, on a private network.
	AllowAnonymousIntrospection bool
	// Introspectors are the client ids of the resource servers that may
	// introspect every token (RFC 7662 §4). Any other authenticated client
	// sees only tokens issued to itself; for the rest, and for every token
	// when this is empty, /introspect answers {"active":false} (§2.2).
	// Each must be a confidential client (static or registered).
	Introspectors []string
	// RevocationFeed configures the revocation feed for resource servers
	// (revocationfeed.go, [RevocationFeedPath]).
	RevocationFeed RevocationFeedConfig

	// Clients, Grants and Keys hold all state (package store: the records,
	// the role interfaces, SQL stores in store/sqlite and store/postgres).
	// Nil means in-memory (store.NewMemoryClientStore, …).
	Clients store.ClientStore
	Grants  store.GrantStore
	Keys    store.KeyStore

	// MaxStateLength bounds, in bytes, the state parameter of an
	// authorization request, which is echoed to the redirect URI (RFC 6749
	// §4.1.2). A longer state is invalid_request, shown on the error page
	// and never reflected. Default DefaultMaxStateLength (2 KiB).
	MaxStateLength int

	// CodeTTL is the authorization code and pending-login lifetime. Default 600 s.
	CodeTTL time.Duration
	// AccessTokenTTL is the access token lifetime. Default 1 h.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the refresh token lifetime. Default 30 days.
	RefreshTokenTTL time.Duration
	// RefreshRetryWindow is how long after a rotation the same client may
	// present the refresh token it just rotated and get a fresh rotation (it
	// lost the answer), instead of the reuse detection of OAuth 2.1 §4.3.1
	// ending the grant. The successor it never received dies. Only the
	// immediately previous token qualifies. Default 10 s; negative disables.
	// Local authority only.
	RefreshRetryWindow time.Duration
	// StoreTimeout bounds every call to a configured store: a store that
	// does not answer in time gives 503 temporarily_unavailable with
	// Retry-After. Default 5 s. (The in-memory stores the server makes for a
	// nil Clients, Grants or Keys never wait, and get no deadline.)
	StoreTimeout time.Duration
	// ClientIdleExpiry deletes a dynamically registered client (RFC 7591)
	// not used for this long. Default 90 days; negative disables.
	ClientIdleExpiry time.Duration
	// MaxPendingAuthorizations caps the authorization requests waiting for
	// sign-in or consent, per store; beyond it the oldest are dropped.
	// Default 10,000.
	MaxPendingAuthorizations int
	// VerifiedTokenCacheSize bounds the server's cache of its own verified
	// access tokens (RFC 7662 /introspect, VerifyAccessToken), keyed by the
	// token's SHA-256; entries end at exp and after 5 minutes, and
	// revocation is still checked in the store on every call. Default
	// 10,000; negative disables the cache.
	VerifiedTokenCacheSize int

	// SigningAlgorithm is ES256 (default), EdDSA or RS256.
	SigningAlgorithm string
	// KeyRotationPeriod is how long a signing key signs before a new one
	// replaces it. Default 30 days; negative disables rotation.
	KeyRotationPeriod time.Duration
	// KeyRefreshInterval bounds how long a replica takes to see a key another
	// replica added. Default 1 min.
	KeyRefreshInterval time.Duration

	// ConsentUI brands the sign-in and consent pages.
	ConsentUI ConsentUI
	// Hooks observe issuance and revocation.
	Hooks Hooks

	// MaxDelegationDepth caps agent delegation by RFC 8693 token exchange
	// (Grantex SPEC §9): a token at this depth cannot be exchanged again.
	// Default DefaultMaxDelegationDepth (3); at most MaxDelegationDepthLimit
	// (10, the Grantex hard cap); negative turns token exchange off.
	MaxDelegationDepth int
	// DefaultBudget, when positive, is allocated to every grant the user
	// consents to (local authority), in the host's smallest unit; a host
	// may allocate budgets itself with Server.AllocateBudget instead.
	DefaultBudget int64
	// MaxClientAssertionLifetime bounds how far in the future the exp of a
	// private_key_jwt client assertion (RFC 7523 §3) may be. Default 5 min.
	MaxClientAssertionLifetime time.Duration
	// DelegationPolicy decides who may exchange an access token (RFC 8693
	// §2.1). Nil: only the client the token was issued to. A non-nil error
	// refuses the exchange with invalid_grant; its text goes to the client.
	DelegationPolicy func(ctx context.Context, req DelegationRequest) error
	// RateLimits limits requests per endpoint and client IP. Nil means
	// limits.DefaultRateLimits; set Disabled to turn limiting off.
	RateLimits *limits.RateLimits
	// TrustForwardedFor takes the client IP from X-Forwarded-For (its last
	// hop) for rate limiting. Only set it behind a proxy you control.
	TrustForwardedFor bool
	// BodyReadTimeout bounds how long a request body may take to arrive,
	// counted from when the endpoint starts handling the request, so slow
	// senders cannot hold connections open (a "slow body" attack). A body
	// not read in time ends the request with 408 and closes the connection.
	// Default 30 s; negative disables.
	BodyReadTimeout time.Duration

	// PasswordCheckConcurrency bounds how many argon2id password checks of
	// the built-in login page run at once: each takes 19 MiB and a CPU for
	// tens of milliseconds, so this bounds the memory a login flood can take.
	// Default: GOMAXPROCS, at most 4.
	PasswordCheckConcurrency int
	// PasswordCheckWait is how long a sign-in waits for a free password
	// check; after it the login page answers 503 with Retry-After (RFC 9110
	// §10.2.3). Default 2 s; negative means do not wait.
	PasswordCheckWait time.Duration
	// LoginBackoff throttles failed sign-ins per account name on the built-in
	// login page. Nil means limits.DefaultLoginBackoff; set Disabled to turn it off.
	LoginBackoff *limits.LoginBackoff

	// Metrics is where the server registers its Prometheus collectors
	// (README "Metrics"). Nil: a registry of the server's own, served by
	// [Server.MetricsHandler]. No label carries a subject, a client id or
	// a token.
	Metrics prometheus.Registerer
	// TracerProvider, when set, gets an OpenTelemetry span for every
	// endpoint request and every store call (README "Tracing"). Nil: no-op.
	TracerProvider trace.TracerProvider

	// Logger receives server logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now; tests set it.
	Now func() time.Time
}

// GrantexConfig groups the Grantex settings of a [Config]. With Client set
// the server is in managed mode: consent and tokens come from a Grantex
// service (package grantex). Without it the local authority issues tokens of
// the Grantex claim shape (RFC 9068 claims plus agt, dev, scp, grnt) naming
// AgentID and DeveloperID.
type GrantexConfig struct {
	// Client calls the Grantex API; nil means the local authority.
	Client GrantexClient
	// AgentID is the Grantex agent id: sent to Grantex in managed mode
	// (required there); locally the agt claim did:grantex:<AgentID>.
	// Default "mcpauth".
	AgentID string
	// DeveloperID is the dev claim of locally issued tokens. Default "local".
	DeveloperID string
	// Issuer is the iss of Grantex-issued tokens (managed mode). Default:
	// the client's base URL.
	Issuer string
}

// ConsentUI brands the sign-in and consent pages.
type ConsentUI struct {
	AppName string
	// AppLogo is an https URL of the logo, or a base64 data: URL of a PNG,
	// JPEG, GIF or WebP image.
	AppLogo string
	// PrivacyURL and TermsURL are https links shown under the pages.
	PrivacyURL string
	TermsURL   string
}

// User is a signed-in end user (the resource owner).
type User struct {
	// Subject becomes the sub claim. Required.
	Subject string
	// Name is shown on the consent page. Default Subject.
	Name string
	// Claims are attributes of the user from the sign-in (an OIDC ID
	// token's claims, directory groups) for Config.GrantPolicy to map to
	// scopes. The built-in login page sets none.
	Claims map[string]any
	// AllowedScopes, when not nil, are the only scopes this user may be
	// granted (an upstream provider's claims mapped to scopes); requested
	// scopes outside it are dropped before consent, and a request left with
	// none is denied (RFC 6749 §4.1.2.1 access_denied).
	AllowedScopes []string
}

// Authenticator connects the authorization endpoint to the host's own
// sign-in: a small type with the host's session lookup and the URL of its
// sign-in page implements it (see the example).
type Authenticator interface {
	// Authenticate reports the user signed in on r; ok is false when nobody is.
	Authenticate(r *http.Request) (u User, ok bool, err error)
	// SignIn sends the browser to sign in and then back to returnTo, an
	// absolute URL on this server.
	SignIn(w http.ResponseWriter, r *http.Request, returnTo string)
}

// ConsentingAuthenticator is an [Authenticator] that answers the consent
// step itself. When Consents reports true for a request whose user is
// signed in, the authorization is approved at once, without the consent
// page: /authorize answers with the code (RFC 6749 §4.1.2), or in managed
// mode goes straight on to Grantex. The grant policy still applies. Use it for an operator's own first-party clients,
// or in tests (mcpauthtest.AutoApprove).
type ConsentingAuthenticator interface {
	Authenticator
	// Consents reports whether the signed-in user of r approves client's
	// request without being asked.
	Consents(r *http.Request, client *store.Client) bool
}

// PasswordUser is an account of the built-in login page.
type PasswordUser struct {
	Username string
	// PasswordHash is an argon2id PHC string from HashPassword.
	PasswordHash string
	// Subject is the sub claim. Default Username.
	Subject string
}

// Hooks observe the server. A hook that fails or panics is logged and never
// changes a response. Hooks run synchronously; keep them quick.
type Hooks struct {
	OnTokenIssued func(ctx context.Context, e TokenIssuedEvent) error
	// OnRevocation receives the jti (access token) or grant id (refresh
	// token) that was revoked.
	OnRevocation func(ctx context.Context, id string) error
	// OnEvent receives every audit event (see EventType).
	OnEvent func(ctx context.Context, e Event)
	// OnBudget receives budget events: a debit crossed 50% or 80% used, or
	// exhausted the budget (EventBudgetThreshold, EventBudgetExhausted).
	OnBudget func(ctx context.Context, e BudgetEvent) error
}

// TokenIssuedEvent describes an access token just issued or refreshed,
// for [Hooks].OnTokenIssued.
type TokenIssuedEvent struct {
	ClientID  string
	Subject   string
	Scopes    []string
	GrantID   string
	AgentDID  string
	TokenID   string
	ExpiresAt time.Time
	// Refreshed is true when the token came from a refresh_token grant.
	Refreshed bool
}

// EventType names an audit event.
type EventType string

// Audit event types, as served on the audit stream.
const (
	EventClientRegistered     EventType = "client.registered"
	EventConsentGranted       EventType = "consent.granted"
	EventConsentDenied        EventType = "consent.denied"
	EventTokenIssued          EventType = "token.issued"
	EventTokenRefreshed       EventType = "token.refreshed"
	EventTokenRevoked         EventType = "token.revoked"
	EventGrantRevoked         EventType = "grant.revoked"
	EventRefreshReuseDetected EventType = "refresh.reuse_detected"
	EventCodeReplayDetected   EventType = "code.replay_detected"
	// EventGrantDelegated: a token exchange (RFC 8693) created a child grant.
	EventGrantDelegated EventType = "grant.delegated"
	// EventBudgetThreshold: a debit took a budget past 50% or 80% used.
	EventBudgetThreshold EventType = "budget.threshold"
	// EventBudgetExhausted: a debit left nothing of a budget.
	EventBudgetExhausted EventType = "budget.exhausted"
)

// Event is one audit event. It never carries a token, code or secret.
type Event struct {
	ID       string    `json:"id"`
	Type     EventType `json:"type"`
	Time     time.Time `json:"time"`
	ClientID string    `json:"client_id,omitempty"`
	Subject  string    `json:"sub,omitempty"`
	GrantID  string    `json:"grant_id,omitempty"`
	TokenID  string    `json:"jti,omitempty"`
	Scopes   []string  `json:"scopes,omitempty"`
	Resource string    `json:"resource,omitempty"`
	// Actor is who acted, for management events: "operator", "client <id>" or "token of <sub>".
	Actor string `json:"actor,omitempty"`
	// Budget is the budget after the debit, for budget events.
	Budget *store.Budget `json:"budget,omitempty"`
}

// Grant is a verified access token: what RequireMCPAuth puts in the request
// context. It reads tokens of both modes (RFC 9068 plus the Grantex claims).
type Grant struct {
	Subject         string
	Issuer          string
	TokenID         string // jti
	Scopes          []string
	ClientID        string
	Audience        []string
	AgentDID        string // agt
	DeveloperID     string // dev
	GrantID         string // grnt, or jti when absent
	DelegationDepth int
	ParentAgentDID  string // parentAgt
	ParentGrantID   string // parentGrnt
	ExpiresAt       time.Time
	IssuedAt        time.Time
	// Raw holds every claim as decoded from the token.
	Raw map[string]any
}

// HasScope reports whether the grant carries scope.
func (g *Grant) HasScope(scope string) bool {
	for _, s := range g.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// GrantexClient is the Grantex REST API as managed mode uses it (see
// package grantex for the HTTP implementation and grantex/grantextest for a
// fake). Errors from Grantex should be *grantex.APIError.
type GrantexClient interface {
	// Authorize creates an authorization request (POST /v1/authorize).
	Authorize(ctx context.Context, p grantex.AuthorizeParams) (*grantex.AuthRequest, error)
	// ExchangeCode redeems a code (POST /v1/token). Single use: never retried
	// once the request may have reached the server.
	ExchangeCode(ctx context.Context, code, codeVerifier string) (*grantex.Token, error)
	// RefreshToken rotates a refresh token (POST /v1/token/refresh). Single use.
	RefreshToken(ctx context.Context, refreshToken string) (*grantex.Token, error)
	// VerifyToken asks Grantex whether a token is valid (POST /v1/tokens/verify).
	VerifyToken(ctx context.Context, token string) (*grantex.Verification, error)
	// RevokeToken revokes one jti (POST /v1/tokens/revoke); already revoked is not an error.
	RevokeToken(ctx context.Context, jti string) error
	// RevokeGrant revokes a grant and its descendants (DELETE /v1/grants/:id).
	RevokeGrant(ctx context.Context, grantID string) error
	// BaseURL is the Grantex service's base URL.
	BaseURL() string
	// JWKSURL is where Grantex publishes its signing keys.
	JWKSURL() string
}
