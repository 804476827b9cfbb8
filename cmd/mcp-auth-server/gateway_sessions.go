package main

// Binding MCP sessions to the user who opened them, at the gateway.

import (
	"sync"
	"time"
)

// sessionIdle is how long a session unused is remembered; an upstream
// that keeps sessions longer sees them passed through unchecked after it.
const sessionIdle = 24 * time.Hour

// sessionOwners remembers the subject that opened each MCP session
// (the Mcp-Session-Id the upstream answered an initialize with) and refuses
// that session to anyone else, as MCP asks of servers (MCP 2025-11-25
// §Security Best Practices, Session Hijacking: bind session ids to the
// user) but many upstreams do not do. Without it another user's valid token
// plus a leaked session id would read that session's stream.
//
// It is per process: a session opened before a restart, or through another
// gateway replica, is unknown here and passed through, as is one evicted
// when max sessions are held (the least recently used go first).
type sessionOwners struct {
	mu  sync.Mutex
	m   map[string]*sessionOwner
	max int
	now func() time.Time
}

type sessionOwner struct {
	subject string
	seen    time.Time
}

func newSessionOwners(max int) *sessionOwners {
	return &sessionOwners{m: map[string]*sessionOwner{}, max: max, now: time.Now}
}

// allow reports whether subject may use session sid: it opened it, or the
// session is unknown here.
func (s *sessionOwners) allow(sid, subject string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.m[sid]
	if !ok {
		return true
	}
	if o.subject != subject {
		return false
	}
	o.seen = s.now()
	return true
}

// record makes subject the owner of a session the upstream just opened.
// A session id already owned by someone else keeps its owner.
func (s *sessionOwners) record(sid, subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if o, ok := s.m[sid]; ok {
		if o.subject == subject {
			o.seen = now
		}
		return
	}
	if len(s.m) >= s.max {
		s.evict(now)
	}
	s.m[sid] = &sessionOwner{subject: subject, seen: now}
}

// evict drops the sessions idle for sessionIdle, and if that frees
// nothing, the least recently used one.
func (s *sessionOwners) evict(now time.Time) {
	var oldest string
	for sid, o := range s.m {
		if now.Sub(o.seen) > sessionIdle {
			delete(s.m, sid)
			continue
		}
		if oldest == "" || o.seen.Before(s.m[oldest].seen) {
			oldest = sid
		}
	}
	if len(s.m) >= s.max && oldest != "" {
		delete(s.m, oldest)
	}
}

// forget drops a session its owner ended (DELETE answered 2xx).
func (s *sessionOwners) forget(sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sid)
}
