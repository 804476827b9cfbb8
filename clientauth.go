package mcpauth

// This file implements client authentication at the token, introspection
// and revocation endpoints: RFC 6749 §2.3.1, each client with its
// registered token_endpoint_auth_method (RFC 7591 §2).

import (
	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/store"
)

// Client authentication methods (RFC 7591 §2 token_endpoint_auth_method).
const (
	authMethodNone  = "none"
	authMethodBasic = "client_secret_basic"
	authMethodPost  = "client_secret_post"
)

// checkAuthMethod accepts a confidential client's proven secret only when it
// came the way the client registered (RFC 7591 §2): client_secret_basic in
// the Authorization header, client_secret_post in the body. A secret that
// leaked into the other channel (a proxy log of bodies, a browser's stored
// Basic credentials) must not work. basic reports whether the credentials
// came in HTTP Basic. A mismatch is invalid_client (RFC 6749 §5.2), with a
// Basic challenge when Basic was used or expected.
func checkAuthMethod(client *store.Client, basic bool) error {
	var want string
	switch {
	case client.TokenEndpointAuthMethod == authMethodBasic && !basic:
		want = "HTTP Basic (client_secret_basic)"
	case client.TokenEndpointAuthMethod == authMethodPost && basic:
		want = "client_id and client_secret in the request body (client_secret_post)"
	case client.TokenEndpointAuthMethod != authMethodBasic && client.TokenEndpointAuthMethod != authMethodPost:
		// A confidential client must have one of the two secret methods;
		// anything else (a store written by other software) never matches.
		want = "a method this server does not support"
	default:
		return nil
	}
	e := oauth.InvalidClient("this client is registered to authenticate with %s", want)
	e.BasicChallenge = basic || client.TokenEndpointAuthMethod == authMethodBasic
	return e
}
