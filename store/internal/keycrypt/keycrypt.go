// Package keycrypt encrypts signing keys at rest for the SQL stores: AES-256-GCM
// under an operator-supplied key, with the key's id stored beside each
// ciphertext so the encryption key can be rotated.
package keycrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the length of an encryption key: AES-256.
const KeySize = 32

// ErrKey means a stored signing key cannot be decrypted: it was encrypted
// under a key that is not configured, no key is configured, or it was altered.
var ErrKey = errors.New("signing key cannot be decrypted with the configured encryption key")

// Sealer encrypts and decrypts private JWKs. A nil *Sealer keeps them in
// plaintext and can still read plaintext rows.
type Sealer struct {
	primaryID string
	aeads     map[string]cipher.AEAD // key id → cipher; primary and previous keys
}

// New returns a Sealer that encrypts under primary and decrypts under primary
// or any of previous (keys being rotated out). primary nil or empty means
// plaintext: New returns nil, nil.
func New(primary []byte, previous ...[]byte) (*Sealer, error) {
	if len(primary) == 0 {
		if len(previous) > 0 {
			return nil, errors.New("previous encryption keys given without a current one")
		}
		return nil, nil
	}
	s := &Sealer{aeads: make(map[string]cipher.AEAD)}
	for i, k := range append([][]byte{primary}, previous...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("encryption key is %d bytes, want %d", len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := KeyID(k)
		if i == 0 {
			s.primaryID = id
		}
		s.aeads[id] = aead
	}
	return s, nil
}

// KeyID names an encryption key without revealing it: a version prefix
// (the sealing format) and a truncated domain-separated SHA-256.
func KeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("mcpauth store encryption key id\x00"))
	h.Write(key)
	return "v1:" + hex.EncodeToString(h.Sum(nil)[:8])
}

// aad binds a ciphertext to its key row, so rows cannot be swapped.
func aad(kid string) []byte { return []byte("mcpauth signing key\x00" + kid) }

// Seal encrypts the private JWK of signing key kid. It returns the stored
// bytes and the encryption key id; keyID is "" when s is nil (plaintext).
func (s *Sealer) Seal(kid string, plaintext []byte) (stored []byte, keyID string, err error) {
	if s == nil {
		return append([]byte(nil), plaintext...), "", nil
	}
	aead := s.aeads[s.primaryID]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", err
	}
	return aead.Seal(nonce, nonce, plaintext, aad(kid)), s.primaryID, nil
}

// Open reverses Seal. keyID "" means the row is plaintext, which any Sealer
// reads (rows written before encryption was turned on). Errors wrap ErrKey.
func (s *Sealer) Open(kid string, stored []byte, keyID string) ([]byte, error) {
	if keyID == "" {
		return append([]byte(nil), stored...), nil
	}
	if s == nil {
		return nil, fmt.Errorf("key %s: %w: it is encrypted under %s and no encryption key is configured", kid, ErrKey, keyID)
	}
	aead, ok := s.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("key %s: %w: it is encrypted under %s, configured is %s", kid, ErrKey, keyID, s.primaryID)
	}
	if len(stored) < aead.NonceSize() {
		return nil, fmt.Errorf("key %s: %w: ciphertext too short", kid, ErrKey)
	}
	nonce, ct := stored[:aead.NonceSize()], stored[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, aad(kid))
	if err != nil {
		return nil, fmt.Errorf("key %s: %w: authentication failed under %s", kid, ErrKey, keyID)
	}
	return pt, nil
}
