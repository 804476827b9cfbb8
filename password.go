package mcpauth

// This file implements password checking for the built-in sign-in page:
// argon2id hashes (RFC 9106), bounded concurrency and per-account back-off.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"time"

	"github.com/mcpauth/mcpauth/internal/browser"
	"github.com/mcpauth/mcpauth/internal/oauth"
)

// HashPassword returns an argon2id PHC string for the built-in login page's
// PasswordUser.PasswordHash.
func HashPassword(password string) (string, error) { return browser.HashPassword(password) }

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
