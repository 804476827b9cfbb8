// Package sdkauth connects mcpauth's resource-server verifier to the MCP Go
// SDK (github.com/modelcontextprotocol/go-sdk).
//
// There are two ways to protect an [mcp.StreamableHTTPHandler].
//
// With the SDK's own middleware, [TokenVerifier] adapts an
// [*mcpauth.Verifier] to [auth.TokenVerifier]:
//
//	v, err := mcpauth.NewVerifier(mcpauth.VerifierOptions{Issuer: issuer, Audience: "https://mcp.example.com/mcp"})
//	…
//	h := auth.RequireBearerToken(sdkauth.TokenVerifier(v), &auth.RequireBearerTokenOptions{
//		ResourceMetadataURL: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
//		Scopes:              []string{"tools:read"},
//	})(mcp.NewStreamableHTTPHandler(getServer, nil))
//
// The SDK then answers 401 for bad tokens (and 403 for missing scopes) and
// binds each session to the token's subject. Its challenges carry no
// error="invalid_token" or error="insufficient_scope" (so clients cannot
// step up scopes) and its error bodies are plain text; it also cannot
// answer 503 while keys are unavailable (it answers 500).
//
// With mcpauth's middleware in front, [RequireMCPAuth] gives complete RFC
// 6750 / RFC 9728 challenges, and still fills the SDK's
// [auth.TokenInfoFromContext], so sessions are bound to users and tool
// handlers see req.Extra.TokenInfo:
//
//	h := sdkauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{
//		VerifierOptions: mcpauth.VerifierOptions{Issuer: issuer, Audience: "https://mcp.example.com/mcp"},
//		RequiredScopes:  []string{"tools:read"},
//	})(mcp.NewStreamableHTTPHandler(getServer, nil))
//
// Only this second way supports per-operation scopes and step-up
// authorization: with [ToolScopes] (or [MethodScopes]) a tool can need more
// than the endpoint, and a token lacking it gets 403 insufficient_scope
// naming every scope the call needs. The SDK's client,
// auth.AuthorizationCodeHandler (v1.8.0), steps up on exactly that
// challenge: it runs the whole authorization again (with dynamic client
// registration, as a newly registered client), asking for the challenged
// scopes plus those already granted, and retries the call once on the same
// session. It does not step up on the SDK middleware's own 403, which
// lacks error="insufficient_scope":
//
//	h := sdkauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{
//		VerifierOptions: mcpauth.VerifierOptions{Local: as, Audience: "https://mcp.example.com/mcp"},
//		RequiredScopes:  []string{"tools:read"},
//	}, sdkauth.ToolScopes(map[string][]string{"add": {"tools:execute"}}))(mcp.NewStreamableHTTPHandler(getServer, nil))
//
// In a tool handler, [GrantFromRequest] returns the [*mcpauth.Grant] of
// the token on the current HTTP request, either way.
//
// Do not use mcpauth.GrantFromContext on a tool handler's ctx with a
// stateful streamable handler, even behind plain mcpauth.RequireMCPAuth:
// the SDK runs a session's handlers on a detached copy of the context of
// the request that created the session, so that ctx holds the grant of the
// initialize request's token, which may since have expired, been refreshed
// or been revoked. (With StreamableHTTPOptions.Stateless every request is
// its own session and the two agree.)
package sdkauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Keys of [auth.TokenInfo].Extra set by [TokenInfo].
const (
	// ExtraGrant holds the *mcpauth.Grant itself.
	ExtraGrant = "mcpauth.grant"
	// ExtraClaims holds every claim of the token (map[string]any).
	ExtraClaims = "claims"
	// ExtraIssuer holds iss (string).
	ExtraIssuer = "iss"
	// ExtraClientID holds client_id (string), when the token has one.
	ExtraClientID = "client_id"
	// ExtraAudience holds aud ([]string).
	ExtraAudience = "aud"
	// ExtraTokenID holds jti (string).
	ExtraTokenID = "jti"
	// ExtraAgentDID holds the Grantex agent DID, agt (string).
	ExtraAgentDID = "agent_did"
	// ExtraGrantID holds the grant id, grnt or else jti (string).
	ExtraGrantID = "grant_id"
)

// TokenInfo maps a verified grant to the SDK's token information: sub
// becomes UserID (the SDK binds sessions to it), exp Expiration, the
// scopes Scopes, and the rest goes into Extra under the Extra* keys.
func TokenInfo(g *mcpauth.Grant) *auth.TokenInfo {
	extra := map[string]any{
		ExtraGrant:    g,
		ExtraClaims:   g.Raw,
		ExtraIssuer:   g.Issuer,
		ExtraAudience: g.Audience,
		ExtraTokenID:  g.TokenID,
		ExtraGrantID:  g.GrantID,
	}
	if g.ClientID != "" {
		extra[ExtraClientID] = g.ClientID
	}
	if g.AgentDID != "" {
		extra[ExtraAgentDID] = g.AgentDID
	}
	return &auth.TokenInfo{
		Scopes:     g.Scopes,
		Expiration: g.ExpiresAt,
		UserID:     g.Subject,
		Extra:      extra,
	}
}

// TokenVerifier adapts v to [auth.RequireBearerToken]. A rejected token
// gives an error wrapping [auth.ErrInvalidToken] (the SDK answers 401 with
// it as the body, so it stays terse); when verification is unavailable
// (keys not fetched yet), the error wraps neither SDK sentinel and the SDK
// answers 500. v checks the audience; the SDK options check scopes.
func TokenVerifier(v *mcpauth.Verifier) auth.TokenVerifier {
	return func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		g, err := v.Verify(ctx, token)
		if err != nil {
			var te *mcpauth.TokenError
			if errors.As(err, &te) {
				return nil, fmt.Errorf("%w: %s", auth.ErrInvalidToken, te.Description)
			}
			if errors.Is(err, mcpauth.ErrInvalidToken) {
				return nil, auth.ErrInvalidToken
			}
			return nil, errors.New("token verification is temporarily unavailable")
		}
		return TokenInfo(g), nil
	}
}

// RequireMCPAuth is [mcpauth.RequireMCPAuth] (which verifies the token and
// writes every challenge) followed by the SDK's [auth.RequireBearerToken]
// fed from the grant already verified, so [auth.TokenInfoFromContext],
// session-to-user binding and req.Extra.TokenInfo work as with the SDK's
// own middleware.
//
// Options add per-operation scopes ([ToolScopes], [MethodScopes]): the
// middleware then reads the JSON-RPC body of each POST (at most
// [MaxBodyBytes], and gives it back to the SDK untouched) and answers 403
// insufficient_scope, naming the endpoint's and the operation's scopes,
// when the token lacks one of them. The MCP Go SDK's
// auth.AuthorizationCodeHandler steps up on that challenge: it
// authorizes again for those scopes and retries the request. A body that
// is not JSON is refused with 400, and a larger one with 413, rather than
// passed on unchecked.
//
// RequireMCPAuth is like [NewRequireMCPAuth] but panics if the options
// are invalid. It simplifies setting up a server whose options are fixed
// in code.
func RequireMCPAuth(opts *mcpauth.RequireMCPAuthOptions, options ...Option) func(http.Handler) http.Handler {
	mw, err := NewRequireMCPAuth(opts, options...)
	if err != nil {
		panic(err)
	}
	return mw
}

// NewRequireMCPAuth returns the middleware described at [RequireMCPAuth],
// or an error if opts or options are invalid (see
// [mcpauth.NewRequireMCPAuth]; scopes must be RFC 6749 §3.3 scope tokens).
// opts is not modified.
func NewRequireMCPAuth(opts *mcpauth.RequireMCPAuthOptions, options ...Option) (func(http.Handler) http.Handler, error) {
	ops, err := newOperationScopes(options)
	if err != nil {
		return nil, err
	}
	if opts != nil && !ops.empty() {
		o := *opts
		o.RequestScopes = ops.requestScopes
		if own := opts.RequestScopes; own != nil {
			o.RequestScopes = func(r *http.Request) ([]string, error) {
				a, err := own(r)
				if err != nil {
					return nil, err
				}
				b, err := ops.requestScopes(r)
				return append(a, b...), err
			}
		}
		opts = &o
	}
	outer, err := mcpauth.NewRequireMCPAuth(opts)
	if err != nil {
		return nil, err
	}
	inner := auth.RequireBearerToken(fromContext, &auth.RequireBearerTokenOptions{
		// The outer middleware has checked exp (with its leeway) on this
		// very request; the SDK's second, leeway-free check would only
		// refuse tokens inside that leeway.
		AllowMissingExpiration: true,
		ClockSkew:              time.Hour,
	})
	return func(next http.Handler) http.Handler { return outer(inner(next)) }, nil
}

func fromContext(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
	g, ok := mcpauth.GrantFromContext(ctx)
	if !ok {
		return nil, auth.ErrInvalidToken
	}
	return TokenInfo(g), nil
}

// GrantFromRequest returns the grant of the token that authorized req, a
// server request such as *mcp.CallToolRequest, from
// req.GetExtra().TokenInfo.Extra[ExtraGrant]. That is set by [TokenVerifier]
// behind auth.RequireBearerToken, or by [RequireMCPAuth]. The Grant is
// shared; do not modify it.
func GrantFromRequest(req mcp.Request) (*mcpauth.Grant, bool) {
	if req == nil {
		return nil, false
	}
	extra := req.GetExtra()
	if extra == nil || extra.TokenInfo == nil {
		return nil, false
	}
	g, ok := extra.TokenInfo.Extra[ExtraGrant].(*mcpauth.Grant)
	return g, ok && g != nil
}
