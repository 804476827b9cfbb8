package browser

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/mcpauth/mcpauth/internal/argon2"
)

// argon2id parameters: OWASP's minimum (19 MiB, 2 passes, 1 lane).
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
)

// Hash is a parsed argon2id PHC string.
type Hash struct {
	Memory  uint32
	Time    uint32
	Threads uint8
	Salt    []byte
	Key     []byte
}

// ParseHash parses an argon2id PHC string, refusing parameters out of
// range (memory above 2 GiB, more than 16 passes), so that a stored hash
// cannot make a sign-in arbitrarily costly.
func ParseHash(phc string) (*Hash, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return nil, errors.New("password hash is not an argon2id PHC string (use mcpauth.HashPassword)")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return nil, errors.New("unsupported argon2id version")
	}
	h := &Hash{}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.Memory, &h.Time, &h.Threads); err != nil {
		return nil, errors.New("malformed argon2id parameters")
	}
	if h.Memory == 0 || h.Memory > 1<<21 || h.Time == 0 || h.Time > 16 || h.Threads == 0 {
		return nil, errors.New("argon2id parameters out of range")
	}
	var err error
	if h.Salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return nil, errors.New("malformed argon2id salt")
	}
	if h.Key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.Key) < 16 {
		return nil, errors.New("malformed argon2id key")
	}
	return h, nil
}

// DummyHash is compared against when the username is unknown, so a wrong
// username costs as much time as a wrong password.
var DummyHash = &Hash{Memory: argonMemory, Time: argonTime, Threads: argonThreads, Salt: make([]byte, 16), Key: make([]byte, argonKeyLen)}

// DummyFor is the dummy hash to check unknown names against: with the
// parameters of phc, the first user's hash (hashes made elsewhere may be
// costlier than HashPassword's), so an unknown name costs what a known one
// does.
func DummyFor(phc string) *Hash {
	if phc == "" {
		return DummyHash
	}
	h, err := ParseHash(phc)
	if err != nil {
		return DummyHash
	}
	return &Hash{Memory: h.Memory, Time: h.Time, Threads: h.Threads, Salt: make([]byte, len(h.Salt)), Key: make([]byte, len(h.Key))}
}

// HashPassword returns an argon2id PHC string (RFC 9106 parameters of
// OWASP's minimum) for password.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("mcpauth: empty password")
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Check reports whether password matches the hash, in constant time.
func (h *Hash) Check(password string) bool {
	key := argon2.IDKey([]byte(password), h.Salt, h.Time, h.Memory, h.Threads, uint32(len(h.Key)))
	return subtle.ConstantTimeCompare(key, h.Key) == 1
}
