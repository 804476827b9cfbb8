// Package jwks verifies JWS compact signatures (RFC 7515) with public keys
// from a JSON Web Key Set (RFC 7517 §5), and keeps a remote set cached.
//
// It is the key half of the resource server's token verifier: [ParseSet]
// reads a JWK Set document, [Parse] and [Token.Verify] check a token's
// signature (both with go-jose; this package adds the key selection and
// the policy: algorithm allow-list, key/algorithm compatibility, no JWS
// extensions), and [Set] fetches, caches and refreshes a remote set (RFC
// 8414 discovery, Cache-Control, rate-limited refetch on unknown kid).
package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// MinRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3 requires
// 2048 bits or larger for RS*/PS*).
const MinRSABits = 2048

// Key is one public verification key from a JWK Set.
type Key struct {
	// ID is the key's kid (RFC 7517 §4.5); it may be empty.
	ID string
	// Algorithm is the key's alg (RFC 7517 §4.4); empty means any algorithm
	// that suits the key type.
	Algorithm string
	// Public is *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	Public crypto.PublicKey
}

// KeySet is a parsed JWK Set: the usable signature keys, indexed by kid.
// A KeySet is immutable and safe for concurrent use.
type KeySet struct {
	keys []Key
	byID map[string][]Key
	// Skipped counts members that were not usable (unknown kty, symmetric,
	// encryption-only, too small, malformed).
	Skipped int
}

// Len returns the number of usable keys.
func (s *KeySet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// Keys returns every usable key. The slice must not be modified.
func (s *KeySet) Keys() []Key {
	if s == nil {
		return nil
	}
	return s.keys
}

// Lookup returns the keys whose kid equals kid. The slice must not be modified.
func (s *KeySet) Lookup(kid string) []Key {
	if s == nil {
		return nil
	}
	return s.byID[kid]
}

// ErrMalformedSet reports a document that is not a JWK Set at all.
var ErrMalformedSet = errors.New("jwks: malformed JWK Set")

// ParseSet parses a JWK Set document (RFC 7517 §5). Members that cannot
// verify signatures with an asymmetric algorithm are skipped rather than
// failing the whole set, as RFC 7517 §5 asks: unknown key types, symmetric
// (oct) keys, keys whose use is not "sig", RSA keys under [MinRSABits],
// unsupported curves. A member carrying private key material contributes
// only its public half. The document itself must be a JSON object with a
// "keys" array, or ParseSet returns an error wrapping [ErrMalformedSet].
func ParseSet(data []byte) (*KeySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedSet, err)
	}
	if doc.Keys == nil {
		return nil, fmt.Errorf("%w: no keys member", ErrMalformedSet)
	}
	ks := &KeySet{byID: make(map[string][]Key, len(doc.Keys))}
	for _, raw := range doc.Keys {
		k, ok := parseKey(raw)
		if !ok {
			ks.Skipped++
			continue
		}
		ks.keys = append(ks.keys, k)
		ks.byID[k.ID] = append(ks.byID[k.ID], k)
	}
	return ks, nil
}

func parseKey(raw json.RawMessage) (Key, bool) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return Key{}, false
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return Key{}, false
	}
	k := Key{ID: jwk.KeyID, Algorithm: jwk.Algorithm}
	switch pub := jwk.Key.(type) {
	case *rsa.PublicKey:
		k.Public = pub
	case *rsa.PrivateKey:
		k.Public = &pub.PublicKey
	case *ecdsa.PublicKey:
		k.Public = pub
	case *ecdsa.PrivateKey:
		k.Public = &pub.PublicKey
	case ed25519.PublicKey:
		k.Public = pub
	case ed25519.PrivateKey:
		k.Public = pub.Public()
	default: // oct ([]byte) and anything else: never a verification key here
		return Key{}, false
	}
	switch pub := k.Public.(type) {
	case *rsa.PublicKey:
		if pub.N == nil || pub.N.BitLen() < MinRSABits || pub.E < 3 {
			return Key{}, false
		}
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return Key{}, false
		}
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return Key{}, false
		}
	}
	if k.Algorithm != "" && !Compatible(k, k.Algorithm) {
		return Key{}, false
	}
	return k, true
}
