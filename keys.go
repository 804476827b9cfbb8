package mcpauth

// This file connects the server to its keys (internal/signing): signing
// keys of RFC 9068 access tokens, published as an RFC 7517 JWK Set, and the
// session keys of login cookies and CSRF tokens.

import (
	"context"
)

// RotateSigningKey publishes a new signing key now (it signs after the
// publication delay) and retires the current ones once their tokens expire.
// It rotates the session key of login cookies and CSRF tokens likewise.
func (s *Server) RotateSigningKey(ctx context.Context) error {
	return s.keys.Rotate(ctx)
}
