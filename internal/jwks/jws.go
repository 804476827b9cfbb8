package jwks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Errors from [Parse] and [Token.Verify].
var (
	// ErrMalformed: not a JWS compact serialization (RFC 7515 §7.1) with
	// one signature and a JSON object header.
	ErrMalformed = errors.New("jwks: malformed JWS")
	// ErrAlgorithm: the header's alg is not one the caller accepts.
	ErrAlgorithm = errors.New("jwks: JWS algorithm not accepted")
	// ErrUnsupported: the header asks for an extension this package does
	// not implement (crit, or RFC 7797 unencoded payloads).
	ErrUnsupported = errors.New("jwks: unsupported JWS")
	// ErrKeyMismatch: the key cannot verify the header's algorithm (wrong
	// key type, curve or declared alg).
	ErrKeyMismatch = errors.New("jwks: key does not match algorithm")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("jwks: invalid signature")
)

// Token is a JWS in compact serialization, parsed by go-jose but not yet
// verified. Alg, Kid and Typ come from its protected header (RFC 7515
// §4.1.1, §4.1.4, §4.1.9).
type Token struct {
	Alg string
	Kid string
	Typ string
	jws *jose.JSONWebSignature
}

// b64 is the strict base64url of RFC 7515 §2: no padding, no stray bits.
var b64 = base64.RawURLEncoding.Strict()

// Parse parses a JWS compact serialization (RFC 7515 §7.1) whose alg is
// one of algs. algs is the caller's allow-list (RFC 8725 §3.1) and must
// never name HS* or none. Parse requires three non-empty segments of
// canonical base64url, exactly one signature and a string typ if any, and
// refuses crit and b64 headers: no extension is understood (RFC 7515
// §4.1.11, RFC 7797 §3). It does not verify the signature; [Token.Verify]
// does.
func Parse(token string, algs []jose.SignatureAlgorithm) (*Token, error) {
	if err := checkCompact(token); err != nil {
		return nil, err
	}
	jws, err := jose.ParseSignedCompact(token, algs)
	if err != nil {
		var ua *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &ua) {
			return nil, fmt.Errorf("%w: %w", ErrAlgorithm, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, ErrMalformed
	}
	h := jws.Signatures[0].Protected
	// go-jose refuses crit names other than b64 only when verifying, and
	// honours b64=false even without crit; this package wants neither.
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return nil, fmt.Errorf("%w: crit header", ErrUnsupported)
	}
	if _, ok := h.ExtraHeaders["b64"]; ok {
		return nil, fmt.Errorf("%w: b64 header", ErrUnsupported)
	}
	t := &Token{Alg: h.Algorithm, Kid: h.KeyID, jws: jws}
	if typ, ok := h.ExtraHeaders[jose.HeaderType]; ok {
		if t.Typ, ok = typ.(string); !ok {
			return nil, fmt.Errorf("%w: typ is not a string", ErrMalformed)
		}
	}
	return t, nil
}

// checkCompact refuses what go-jose's lenient base64 decoding lets through
// but a compact JWS cannot contain (RFC 7515 §2, §7.1): anything but three
// non-empty segments of base64url without padding (CR and LF included), and
// non-canonical encodings, whose stray low bits would give one token
// several spellings.
func checkCompact(token string) error {
	segments, start := 0, 0
	for i := 0; i <= len(token); i++ {
		if i < len(token) && token[i] != '.' {
			if !isBase64URL(token[i]) {
				return ErrMalformed
			}
			continue
		}
		if segments++; segments > 3 || !canonical(token[start:i]) {
			return ErrMalformed
		}
		start = i + 1
	}
	if segments != 3 {
		return ErrMalformed
	}
	return nil
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// canonical reports whether seg (base64url characters only) is non-empty
// and strictly decodable: only its final partial quantum can carry stray
// bits, so only that is decoded.
func canonical(seg string) bool {
	if seg == "" {
		return false
	}
	tail := seg[len(seg)-len(seg)%4:]
	if tail == "" {
		return true
	}
	var src [3]byte
	var dst [3]byte
	n := copy(src[:], tail)
	_, err := b64.Decode(dst[:], src[:n])
	return err == nil
}

// Verify checks the signature with k (go-jose, RFC 7518 §3.3-§3.5, RFC 8037
// §3.1) and returns the payload. It returns an error matching
// [ErrKeyMismatch] when k cannot verify t.Alg, [ErrSignature] when the
// signature is wrong. The payload must not be modified.
func (t *Token) Verify(k Key) ([]byte, error) {
	if !Compatible(k, t.Alg) {
		return nil, ErrKeyMismatch
	}
	payload, err := t.jws.Verify(k.Public)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return payload, nil
}

// Compatible reports whether k can verify alg: the key type and curve match
// the algorithm (RFC 7518 §3.1, RFC 8037 §3.1), an RSA key has at least
// [MinRSABits], and the key's own alg, when set, equals alg. Symmetric
// algorithms and "none" are never compatible.
func Compatible(k Key, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch pub := k.Public.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return pub.N != nil && pub.N.BitLen() >= MinRSABits
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pub.Curve == elliptic.P256()
		case "ES384":
			return pub.Curve == elliptic.P384()
		case "ES512":
			return pub.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA" && len(pub) == ed25519.PublicKeySize
	}
	return false
}

// Supported reports whether alg is an asymmetric JWS algorithm this package
// verifies. HS256/384/512 and none are not.
func Supported(alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
		return true
	}
	return false
}
