package mcpauth

// This file defines the authority boundary: the interface behind which
// the local authority (authority_local.go) and Grantex (authority_grantex.go)
// issue codes and tokens, so that handlers never branch on the mode.

import (
	"context"
	"time"

	"github.com/mcpauth/mcpauth/internal/ui"
	"github.com/mcpauth/mcpauth/store"
)

// authority is what stands behind the endpoints: the local authority (our
// keys, our consent page) or Grantex (its consent page, its tokens). The
// handlers do everything else (parsing, client authentication, PKCE, single
// use) the same way in both modes.
type authority interface {
	// consent takes a validated request whose user is known to the point
	// where the user decides: our consent page, or Grantex's; or, when
	// req.autoApprove, straight to the code.
	consent(ctx context.Context, req consentRequest) (step, error)
	// approve carries out the user's approval posted from our consent
	// page; the local authority issues the code.
	approve(ctx context.Context, req consentRequest) (step, error)
	// exchange turns a code into tokens and what the store must keep for
	// them; the caller redeems the code with it (GrantStore.RedeemCode), so
	// nothing is kept unless the code is consumed with it.
	exchange(ctx context.Context, code string, rec *store.CodeRecord, client *store.Client) (*tokenResponse, *store.Redemption, error)
	// refresh rotates a refresh token into new tokens.
	refresh(ctx context.Context, token string, rec *store.RefreshRecord, client *store.Client, scopes []string) (*tokenResponse, error)
	// verify checks an access token this authority issued, incl. revocation.
	verify(ctx context.Context, token string) (*Grant, error)
	// revokeAccess revokes one access token.
	revokeAccess(ctx context.Context, g *Grant) error
	// revokeGrant ends a grant and everything issued from it.
	revokeGrant(ctx context.Context, grantID string) error
	// jwksURI is where the keys that sign access tokens are published.
	jwksURI() string
}

// consentRequest is what an authority decides consent on: the pending
// request (and its id), the client and the signed-in user. autoApprove says
// the Authenticator consents for the user ([ConsentingAuthenticator]).
type consentRequest struct {
	pendingID   string
	p           *store.PendingAuthorization
	client      *store.Client
	user        User
	autoApprove bool
}

// step is what the browser is shown next in an authorization, as an
// authority decides it: our consent page, or a redirect (to the client with
// code, state and iss; to Grantex's consent page). The handler writes it
// ([Server.show]); errors come back as errors (see errorsRedirect).
type step struct {
	page   *ui.Consent // our consent page, whose form may post to formTo
	formTo string
	// location is the redirect (302) when page is nil; toClient marks an
	// answer to the client, sent with the page headers (no-store).
	location string
	toClient bool
}

// tokenResponse is the RFC 6749 §5.1 answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// IssuedTokenType is RFC 8693 §2.2.1's, set for token exchange only.
	IssuedTokenType string `json:"issued_token_type,omitempty"`

	// For events and hooks.
	tokenID   string
	expiresAt time.Time // of the access token
	grantID   string
	agentDID  string
	subject   string
	scopes    []string
}
