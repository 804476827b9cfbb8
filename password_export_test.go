package mcpauth

import "fmt"

// Test hooks into the login bounds (this file is compiled only by go test).

// HoldPasswordChecks takes every password-check slot of s, as checks in
// flight would; release frees them.
func HoldPasswordChecks(s *Server) (release func()) {
	n := cap(s.pwSlots)
	for range n {
		s.pwSlots <- struct{}{}
	}
	return func() {
		for range n {
			<-s.pwSlots
		}
	}
}

// PasswordChecksWaiting is the number of sign-ins waiting for a slot.
func PasswordChecksWaiting(s *Server) int { return int(s.pwWaiting.Load()) }

// PasswordChecksRun is the number of argon2id checks s has run.
func PasswordChecksRun(s *Server) int { return int(s.pwChecks.Load()) }

// PasswordCheckSlots is the configured concurrency of password checks.
func PasswordCheckSlots(s *Server) int { return cap(s.pwSlots) }

// DummyHashParams are the argon2id parameters checked for unknown names.
func DummyHashParams(s *Server) string {
	return fmt.Sprintf("m=%d,t=%d,p=%d,salt=%d,key=%d", s.pwDummy.Memory, s.pwDummy.Time, s.pwDummy.Threads, len(s.pwDummy.Salt), len(s.pwDummy.Key))
}
