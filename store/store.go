// Package store is the data model of mcpauth's state: the records the
// authorization server keeps (clients, codes, grants, refresh tokens,
// pending authorizations, keys), the role interfaces a store implements,
// the errors stores return, and the in-memory stores that are the server's
// defaults. It imports nothing from the rest of the module, so a store
// implementation (store/sqlite, store/postgres, your own) depends on this
// package only.
package store

// This file defines the store interfaces and the records they keep.

import (
	"context"
	"errors"
	"time"
)

// Store errors. Implementations return these (wrapped is fine) so the server
// can tell them apart with errors.Is.
var (
	// ErrNotFound: no such record, or it has expired.
	ErrNotFound = errors.New("mcpauth: not found")
	// ErrCodeReplayed: the code was already consumed. ConsumeCode returns the
	// record with it, so the caller can revoke what the code issued.
	ErrCodeReplayed = errors.New("mcpauth: authorization code already used")
	// ErrRefreshReused: the refresh token was already rotated. RotateRefresh
	// returns the record with it, so the caller can revoke the grant.
	ErrRefreshReused = errors.New("mcpauth: refresh token already used")
	// ErrConflict: a record with that key exists.
	ErrConflict = errors.New("mcpauth: already exists")
	// ErrUnavailable: the work cannot be done now but may be retried: the
	// store is down (stores wrap their failures in it), or a token cannot
	// be verified (mcpauth.UnavailableError). Endpoints answer 503
	// temporarily_unavailable, the middleware with Retry-After. The root
	// package names this same error mcpauth.ErrUnavailable.
	ErrUnavailable = errors.New("mcpauth: unavailable")
)

// CodeRecord is what an authorization code stands for. Stores key it by the
// code's digest and never see the code itself. RedirectURI is the
// authorization request's redirect_uri, which the token request must repeat
// (OAuth 2.1 §4.1.3); it is empty when the request omitted it.
type CodeRecord struct {
	GrantID       string    `json:"grant_id"`
	ClientID      string    `json:"client_id"`
	Subject       string    `json:"sub"`
	RedirectURI   string    `json:"redirect_uri"`
	CodeChallenge string    `json:"code_challenge"`
	Resource      string    `json:"resource,omitempty"`
	Scopes        []string  `json:"scopes"`
	AuthTime      time.Time `json:"auth_time"`
	ExpiresAt     time.Time `json:"expires_at"`
	// Upstream is authority data (managed mode: Grantex's code) sealed under a
	// key derived from the code, so a stolen database cannot redeem it.
	Upstream []byte `json:"upstream,omitempty"`
}

// GrantRecord is one consent: a client acting for a subject with scopes on a
// resource. Access and refresh tokens carry its ID; revoking it ends them all.
type GrantRecord struct {
	ID        string    `json:"id"`
	ClientID  string    `json:"client_id"`
	Subject   string    `json:"sub"`
	Scopes    []string  `json:"scopes"`
	Resource  string    `json:"resource,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// UpstreamGrantID is the Grantex grant id in managed mode.
	UpstreamGrantID string `json:"upstream_grant_id,omitempty"`
}

// RefreshRecord is what a refresh token stands for, keyed by its digest.
type RefreshRecord struct {
	GrantID   string    `json:"grant_id"`
	ClientID  string    `json:"client_id"`
	Subject   string    `json:"sub"`
	Scopes    []string  `json:"scopes"`
	Resource  string    `json:"resource,omitempty"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Upstream is authority data (managed mode: Grantex's refresh token)
	// sealed under a key derived from this refresh token.
	Upstream []byte `json:"upstream,omitempty"`
	// AccessTokenID is the jti of the access token issued with this refresh
	// token, deny-listed until AccessExpiresAt when a retried rotation kills
	// this token (RotateRefresh): neither reached the client, so whoever
	// holds them is not the client.
	AccessTokenID   string    `json:"access_jti,omitempty"`
	AccessExpiresAt time.Time `json:"access_expires_at,omitzero"`
}

// PendingAuthorization is an authorization request between /authorize and
// the user's consent, keyed by the digest of its random id. RedirectURI is
// the request's redirect_uri, empty when it was omitted (the client's only
// registered URI then receives the answer).
type PendingAuthorization struct {
	ClientID      string    `json:"client_id"`
	RedirectURI   string    `json:"redirect_uri"`
	State         string    `json:"state,omitempty"`
	CodeChallenge string    `json:"code_challenge"`
	Resource      string    `json:"resource,omitempty"`
	Scopes        []string  `json:"scopes"`
	Subject       string    `json:"sub,omitempty"`
	ExpiresAt     time.Time `json:"expires_at"`
	// Upstream is authority data (managed mode: our PKCE verifier toward
	// Grantex) sealed under a key derived from the pending id.
	Upstream []byte `json:"upstream,omitempty"`
}

// Redemption is what redeeming an authorization code stores with it
// (GrantStore.RedeemCode).
type Redemption struct {
	// Grants are created unless a grant with the ID exists (the local
	// authority creates its grant at consent; managed mode creates it here).
	Grants []*GrantRecord
	// Refresh, when not nil, is the refresh token issued with the code,
	// stored at RefreshDigest.
	RefreshDigest string
	Refresh       *RefreshRecord
}

// GrantStore keeps codes, grants, refresh tokens, pending logins and the
// access-token deny list: one store implements every role below, so that
// operations spanning roles (RedeemCode creates grants and a refresh token;
// RevokeGrant ends refresh tokens) are atomic. Every single-use operation
// is atomic too: of many concurrent callers, across any number of
// replicas, exactly one wins. Keys named digest are SHA-256 digests
// (base64url) of secrets the store never sees.
type GrantStore interface {
	CodeStore
	RefreshStore
	PendingStore
	RevocationStore
	GrantLister
	RevocationFeedStore // feed.go
	DelegationStore     // agents.go
	BudgetStore         // agents.go
	AssertionStore      // agents.go
	// DeleteExpired removes at most limit records of every role that
	// expired before now (consumed codes, rotated tokens, deny-list entries, old grants) and
	// reports how many it removed. A revoked grant is its revocation's
	// tombstone: it is removed only at its ExpiresAt, which bounds the exp
	// of every access token issued for it (see Server's token minting).
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

// CodeStore is the authorization-code role of a [GrantStore] (OAuth 2.1
// §4.1.2-§4.1.3): single-use codes and their atomic redemption.
type CodeStore interface {
	// SaveCode stores a code record until rec.ExpiresAt.
	SaveCode(ctx context.Context, digest string, rec *CodeRecord) error
	// ConsumeCode marks the code used and returns its record to exactly one
	// caller. Later callers get the record with ErrCodeReplayed; unknown or
	// expired codes give ErrNotFound.
	ConsumeCode(ctx context.Context, digest string) (*CodeRecord, error)
	// GetCode returns the code's record without consuming it: a consumed
	// code's record comes with ErrCodeReplayed; unknown or expired codes give
	// ErrNotFound.
	GetCode(ctx context.Context, digest string) (*CodeRecord, error)
	// RedeemCode is the all-or-nothing redemption of a code (OAuth 2.1
	// §4.1.3): in one transaction it consumes the code, creates r.Grants
	// (a grant whose ID exists is kept as it is) and stores r.Refresh at
	// r.RefreshDigest. It returns the code's record to exactly one caller;
	// later callers get it with ErrCodeReplayed, and unknown or expired codes
	// give ErrNotFound. On any error nothing changed: the code stays
	// redeemable and no grant or refresh token was stored.
	RedeemCode(ctx context.Context, digest string, r *Redemption) (*CodeRecord, error)
}

// RefreshStore is the refresh-token role of a [GrantStore] (OAuth 2.1
// §4.3.1): rotation with reuse detection.
type RefreshStore interface {
	// SaveRefresh stores a refresh token record.
	SaveRefresh(ctx context.Context, digest string, rec *RefreshRecord) error
	// RotateRefresh atomically retires the token at oldDigest and stores next
	// at newDigest, returning the old record to exactly one caller. A token
	// already rotated gives its record with ErrRefreshReused; unknown,
	// expired or revoked-grant tokens give ErrNotFound.
	//
	// With retryWindow > 0, a token rotated less than retryWindow ago is
	// rotated again instead (a client retrying a refresh whose answer it
	// lost) when next.ClientID is the token's client and the successor it
	// was rotated to is live and was itself never rotated: that successor
	// dies (it is marked rotated with no successor, so presenting it later
	// is reuse; its AccessTokenID is deny-listed) and next takes its place. A token is retried at most once:
	// the retry closes its window. Anything else is ErrRefreshReused.
	RotateRefresh(ctx context.Context, oldDigest, newDigest string, next *RefreshRecord, retryWindow time.Duration) (*RefreshRecord, error)
	// GetRefresh returns a live (unrotated, unexpired, grant not revoked)
	// refresh token's record, or ErrNotFound.
	GetRefresh(ctx context.Context, digest string) (*RefreshRecord, error)
	// LookupRefresh is GetRefresh that tells a rotated token from an
	// unknown one without writing: a token already rotated (unexpired, its
	// grant live) comes back with its record and ErrRefreshReused, as
	// RotateRefresh would answer it; unknown, expired or revoked-grant
	// tokens give ErrNotFound.
	LookupRefresh(ctx context.Context, digest string) (*RefreshRecord, error)
}

// PendingStore is the pending-authorization role of a [GrantStore]: the
// requests waiting for the user to sign in and consent.
type PendingStore interface {
	// SavePending stores a pending authorization until p.ExpiresAt.
	SavePending(ctx context.Context, digest string, p *PendingAuthorization) error
	// GetPending returns a pending authorization without consuming it.
	GetPending(ctx context.Context, digest string) (*PendingAuthorization, error)
	// ConsumePending removes and returns it, to exactly one caller.
	ConsumePending(ctx context.Context, digest string) (*PendingAuthorization, error)
	// TrimPending removes the oldest pending authorizations (by when they
	// were saved) so that at most keep remain, and reports how many it
	// removed. A store may count saves instead (remove every request saved
	// before the keep most recent saves), which removes more when newer
	// requests were consumed. The server calls it after every SavePending, so it must be
	// cheap: proportional to what it removes, not to what it keeps.
	TrimPending(ctx context.Context, keep int) (int, error)
}

// RevocationStore is the grant and revocation role of a [GrantStore] (RFC
// 7009): grants, their revocation, and the access-token deny list.
type RevocationStore interface {
	// CreateGrant stores a new grant.
	CreateGrant(ctx context.Context, g *GrantRecord) error
	// GetGrant returns ErrNotFound for unknown or expired grants; a revoked
	// grant is returned with RevokedAt set.
	GetGrant(ctx context.Context, id string) (*GrantRecord, error)
	// RevokeGrant marks the grant revoked at `at` and ends its refresh tokens.
	// Revoking an unknown or revoked grant is not an error.
	RevokeGrant(ctx context.Context, id string, at time.Time) error

	// DenyToken deny-lists an access token's jti until it expires.
	DenyToken(ctx context.Context, jti string, until time.Time) error
	// IsRevoked reports whether jti is deny-listed or grantID is revoked.
	IsRevoked(ctx context.Context, jti, grantID string) (bool, error)
}

// SigningKey is a key as the [KeyStore] keeps it: a private signing key
// (RFC 7517 JWK), or (Algorithm "mcpauth-session") a random session key.
type SigningKey struct {
	// ID is the kid: the RFC 7638 thumbprint of the public key.
	ID        string `json:"kid"`
	Algorithm string `json:"alg"`
	// PrivateJWK is the private key as a JWK (JSON). Stores may encrypt it at rest.
	PrivateJWK []byte `json:"-"`
	// CreatedAt is when the key was made and published in the JWKS.
	CreatedAt time.Time `json:"created_at"`
	// SignFrom is when it starts signing: after every replica and client
	// cache has seen it published.
	SignFrom time.Time `json:"sign_from"`
	// ExpiresAt is when it leaves the JWKS: after the last token it signed
	// has expired. Zero until the key is retired.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// KeyStore keeps the signing keys shared by all replicas, and beside them
// the random session keys of login cookies and CSRF tokens (Algorithm
// "mcpauth-session", an "oct" JWK in PrivateJWK): stores treat both alike
// and should encrypt PrivateJWK at rest.
type KeyStore interface {
	// ListKeys returns every stored key, newest first.
	ListKeys(ctx context.Context) ([]SigningKey, error)
	// AddKey stores a new key; ErrConflict if its ID exists.
	AddKey(ctx context.Context, k SigningKey) error
	// RetireKey sets the key's ExpiresAt (if it is unset or later).
	RetireKey(ctx context.Context, id string, expiresAt time.Time) error
	// DeleteKey removes a key.
	DeleteKey(ctx context.Context, id string) error
}
