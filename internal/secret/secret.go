// Package secret makes and handles the server's bearer secrets: random
// tokens, their at-rest digests, and data sealed under a key only the token's
// holder can supply.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
)

// New returns prefix followed by 32 random bytes, base64url-encoded.
func New(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Digest is the at-rest form of a secret: base64url(SHA-256(s)).
func Digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Sum is SHA-256(s), for constant-time comparison of client secrets.
func Sum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// Equal compares two digests in constant time.
func Equal(a, b []byte) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1
}

func aead(token, purpose string) cipher.AEAD {
	key := sha256.Sum256([]byte("mcpauth seal v1\x00" + purpose + "\x00" + token))
	block, _ := aes.NewCipher(key[:]) // 32-byte key: cannot fail
	gcm, _ := cipher.NewGCM(block)
	return gcm
}

// Seal encrypts plaintext under a key derived from token, so that what is
// stored next to the token's digest is readable only by whoever presents the
// token itself.
func Seal(token, purpose string, plaintext []byte) []byte {
	g := aead(token, purpose)
	nonce := make([]byte, g.NonceSize())
	_, _ = rand.Read(nonce)
	return g.Seal(nonce, nonce, plaintext, []byte(purpose))
}

// ErrOpen is returned for sealed data that does not open with the token.
var ErrOpen = errors.New("secret: sealed data does not open")

// Open reverses Seal.
func Open(token, purpose string, sealed []byte) ([]byte, error) {
	g := aead(token, purpose)
	if len(sealed) < g.NonceSize() {
		return nil, ErrOpen
	}
	out, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], []byte(purpose))
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}
