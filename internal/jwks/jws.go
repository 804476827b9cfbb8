package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// Errors from [ParseCompact] and [VerifySignature].
var (
	// ErrMalformed: not a JWS compact serialization (RFC 7515 §7.1).
	ErrMalformed = errors.New("jwks: malformed JWS")
	// ErrUnsupported: the header asks for something this package does not
	// do (crit extensions, unencoded payloads, unknown alg).
	ErrUnsupported = errors.New("jwks: unsupported JWS")
	// ErrKeyMismatch: the key cannot verify the header's algorithm (wrong
	// key type, curve or declared alg).
	ErrKeyMismatch = errors.New("jwks: key does not match algorithm")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("jwks: invalid signature")
)

// Header is the part of a JWS protected header (RFC 7515 §4.1) a verifier needs.
type Header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Typ string `json:"typ,omitempty"`
	// Crit and B64 are read only to refuse them (RFC 7515 §4.1.11, RFC 7797).
	Crit json.RawMessage `json:"crit,omitempty"`
	B64  json.RawMessage `json:"b64,omitempty"`
}

// Compact is a parsed JWS compact serialization. SigningInput aliases the
// token; Payload and Signature are decoded.
type Compact struct {
	Header       Header
	SigningInput string // BASE64URL(header) "." BASE64URL(payload)
	Payload      []byte
	Signature    []byte
}

var b64 = base64.RawURLEncoding.Strict()

// ParseCompact splits and decodes a JWS compact serialization (RFC 7515
// §7.1): exactly three base64url parts without padding, a JSON object
// header with a non-empty alg. It refuses headers with crit or b64, since
// no extension is understood (RFC 7515 §4.1.11). It does not verify the
// signature; call [VerifySignature].
func ParseCompact(token string) (*Compact, error) {
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, ErrMalformed
	}
	p, s, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(s, '.') >= 0 || h == "" || p == "" || s == "" {
		return nil, ErrMalformed
	}
	hb, err := b64.DecodeString(h)
	if err != nil {
		return nil, ErrMalformed
	}
	c := &Compact{SigningInput: token[:len(h)+1+len(p)]}
	if len(hb) == 0 || hb[0] != '{' {
		return nil, ErrMalformed
	}
	if err := json.Unmarshal(hb, &c.Header); err != nil {
		return nil, ErrMalformed
	}
	if c.Header.Alg == "" {
		return nil, ErrMalformed
	}
	if c.Header.Crit != nil || c.Header.B64 != nil {
		return nil, ErrUnsupported
	}
	if c.Payload, err = b64.DecodeString(p); err != nil {
		return nil, ErrMalformed
	}
	if c.Signature, err = b64.DecodeString(s); err != nil {
		return nil, ErrMalformed
	}
	return c, nil
}

// Compatible reports whether k can verify alg: the key type and curve match
// the algorithm (RFC 7518 §3.1, RFC 8037 §3.1), and the key's own alg, when
// set, equals alg. Symmetric algorithms and "none" are never compatible.
func Compatible(k Key, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch pub := k.Public.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
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
		return alg == "EdDSA"
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

// VerifySignature checks sig over signingInput with key k for alg
// (RFC 7518 §3.3-§3.5, RFC 8037 §3.1). It returns [ErrKeyMismatch] when k
// cannot verify alg, [ErrSignature] when the signature is wrong.
func VerifySignature(k Key, alg string, signingInput string, sig []byte) error {
	if !Compatible(k, alg) {
		return ErrKeyMismatch
	}
	switch alg {
	case "EdDSA":
		if !ed25519.Verify(k.Public.(ed25519.PublicKey), []byte(signingInput), sig) {
			return ErrSignature
		}
		return nil
	case "ES256", "ES384", "ES512":
		pub := k.Public.(*ecdsa.PublicKey)
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return ErrSignature
		}
		digest := hashFor(alg, signingInput)
		if !ecdsa.VerifyASN1(pub, digest, asn1Signature(sig[:size], sig[size:])) {
			return ErrSignature
		}
		return nil
	case "RS256", "RS384", "RS512":
		h, digest := hashID(alg), hashFor(alg, signingInput)
		if rsa.VerifyPKCS1v15(k.Public.(*rsa.PublicKey), h, digest, sig) != nil {
			return ErrSignature
		}
		return nil
	case "PS256", "PS384", "PS512":
		h, digest := hashID(alg), hashFor(alg, signingInput)
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
		if rsa.VerifyPSS(k.Public.(*rsa.PublicKey), h, digest, sig, opts) != nil {
			return ErrSignature
		}
		return nil
	}
	return ErrKeyMismatch
}

func hashID(alg string) crypto.Hash {
	switch alg[2:] {
	case "384":
		return crypto.SHA384
	case "512":
		return crypto.SHA512
	}
	return crypto.SHA256
}

func hashFor(alg, in string) []byte {
	switch hashID(alg) {
	case crypto.SHA384:
		d := sha512.Sum384([]byte(in))
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512([]byte(in))
		return d[:]
	}
	d := sha256.Sum256([]byte(in))
	return d[:]
}

// asn1Signature turns the fixed-width R||S of RFC 7518 §3.4 into the DER
// SEQUENCE { INTEGER r, INTEGER s } that crypto/ecdsa verifies.
func asn1Signature(r, s []byte) []byte {
	r, s = derInt(r), derInt(s)
	body := 2 + len(r) + 2 + len(s)
	out := make([]byte, 0, 3+body)
	out = append(out, 0x30)
	if body >= 0x80 {
		out = append(out, 0x81)
	}
	out = append(out, byte(body), 0x02, byte(len(r)))
	out = append(out, r...)
	out = append(out, 0x02, byte(len(s)))
	return append(out, s...)
}

// derInt returns the minimal two's-complement big-endian encoding of the
// unsigned integer b.
func derInt(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) > 0 && b[0]&0x80 != 0 {
		return append([]byte{0}, b...)
	}
	return b
}
