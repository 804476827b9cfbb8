package mcpauth

// This file implements RFC 7636, Proof Key for Code Exchange (S256).

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// PKCE (RFC 7636) with the S256 method only: OAuth 2.1 §4.1.1 and the MCP
// authorization spec forbid "plain".

// validCodeVerifier reports whether v is 43–128 unreserved characters
// (RFC 7636 §4.1).
func validCodeVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isUnreserved(v[i]) {
			return false
		}
	}
	return true
}

// validCodeChallenge reports whether c can be an S256 challenge: the
// base64url encoding (no padding) of a SHA-256 digest, 43 characters.
func validCodeChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// S256Challenge returns BASE64URL(SHA256(verifier)) (RFC 7636 §4.2).
func S256Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// VerifyCodeChallenge reports whether verifier matches an S256 challenge, in
// constant time (RFC 7636 §4.6). It does not check the verifier's length;
// the token endpoint does.
func VerifyCodeChallenge(verifier, challenge string) bool {
	return subtle.ConstantTimeCompare([]byte(S256Challenge(verifier)), []byte(challenge)) == 1
}
