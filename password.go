package mcpauth

// This file implements password checking for the built-in sign-in page:
// argon2id hashes (RFC 9106), bounded concurrency and per-account back-off.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/internal/argon2"
	"github.com/mcpauth/mcpauth/internal/oauth"
)

// argon2id parameters: OWASP's minimum (19 MiB, 2 passes, 1 lane).
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns an argon2id PHC string for the built-in login page's
// PasswordUser.PasswordHash.
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

type argonHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func parseArgon2id(phc string) (*argonHash, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return nil, errors.New("password hash is not an argon2id PHC string (use mcpauth.HashPassword)")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return nil, errors.New("unsupported argon2id version")
	}
	h := &argonHash{}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil {
		return nil, errors.New("malformed argon2id parameters")
	}
	if h.memory == 0 || h.memory > 1<<21 || h.time == 0 || h.time > 16 || h.threads == 0 {
		return nil, errors.New("argon2id parameters out of range")
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return nil, errors.New("malformed argon2id salt")
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 {
		return nil, errors.New("malformed argon2id key")
	}
	return h, nil
}

// dummyHash is compared against when the username is unknown, so a wrong
// username costs as much time as a wrong password.
var dummyHash = &argonHash{memory: argonMemory, time: argonTime, threads: argonThreads, salt: make([]byte, 16), key: make([]byte, argonKeyLen)}

// dummyFor is the dummy hash for users: with the first user's parameters
// (hashes made elsewhere may be costlier than HashPassword's), so an unknown
// name costs what a known one does.
func dummyFor(users []PasswordUser) *argonHash {
	if len(users) == 0 {
		return dummyHash
	}
	h, err := parseArgon2id(users[0].PasswordHash)
	if err != nil {
		return dummyHash
	}
	return &argonHash{memory: h.memory, time: h.time, threads: h.threads, salt: make([]byte, len(h.salt)), key: make([]byte, len(h.key))}
}

// maxBackoffAccounts caps the per-account back-off table (about 150 bytes
// an entry): past it the name that failed longest ago is forgotten.
const maxBackoffAccounts = 100_000

// maxPasswordLen is the longest password checked; longer ones fail unhashed.
const maxPasswordLen = 1024

// backoffKey is the back-off table's key of a typed username: a fixed-size
// digest, so long names cost no more memory than short ones.
func backoffKey(username string) string {
	sum := sha256.Sum256([]byte(username))
	return string(sum[:16])
}

// acquirePasswordCheck takes one of the PasswordCheckConcurrency slots,
// waiting at most PasswordCheckWait; false means the server is busy.
func (s *Server) acquirePasswordCheck(ctx context.Context) bool {
	select {
	case s.pwSlots <- struct{}{}:
		return true
	default:
	}
	if s.cfg.PasswordCheckWait < 0 {
		return false
	}
	s.pwWaiting.Add(1)
	defer s.pwWaiting.Add(-1)
	t := time.NewTimer(s.cfg.PasswordCheckWait)
	defer t.Stop()
	select {
	case s.pwSlots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (s *Server) releasePasswordCheck() { <-s.pwSlots }

// loginBusy answers a sign-in that found no free password check.
func (s *Server) loginBusy() *oauth.Error {
	return oauth.TemporarilyUnavailable(max(s.cfg.PasswordCheckWait, time.Second),
		"The server is busy signing other people in. Please try again in a moment.")
}

// loginThrottled answers a sign-in refused by a rate limit or back-off;
// format has one %s for the wait, in words.
func loginThrottled(wait time.Duration, format string) *oauth.Error {
	secs := int((wait + time.Second - 1) / time.Second)
	var words string
	switch {
	case secs == 1:
		words = "1 second"
	case secs < 120:
		words = fmt.Sprintf("%d seconds", secs)
	default:
		words = fmt.Sprintf("%d minutes", (secs+59)/60)
	}
	return &oauth.Error{Code: "temporarily_unavailable", Status: http.StatusTooManyRequests,
		Description: fmt.Sprintf(format, words), RetryAfter: wait}
}

// checkPassword reports whether password matches the PHC hash.
func checkPassword(h *argonHash, password string) bool {
	key := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}
