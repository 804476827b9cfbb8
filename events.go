package mcpauth

// This file implements the in-process audit event bus.

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/google/uuid"
)

// eventBus fans audit events out to in-process subscribers. A subscriber
// that does not keep up is dropped (its channel closed), never waited for.
type eventBus struct {
	mu     sync.Mutex
	subs   map[chan Event]struct{}
	revoke map[int]func(jti, grantID string)
	nextID int
}

// SubscribeEvents returns a channel of audit events, buffered to buf. The
// channel is closed when cancel is called or when the subscriber falls more
// than buf events behind.
func (s *Server) SubscribeEvents(buf int) (events <-chan Event, cancel func()) {
	if buf < 1 {
		buf = 1
	}
	ch := make(chan Event, buf)
	b := &s.events
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[chan Event]struct{}{}
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// SubscribeRevocations calls fn, synchronously, for every access token (jti)
// or grant (grantID) this server revokes. Verifiers use it to drop cached
// tokens at once. fn must not block.
func (s *Server) SubscribeRevocations(fn func(jti, grantID string)) (cancel func()) {
	b := &s.events
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.revoke == nil {
		b.revoke = map[int]func(string, string){}
	}
	id := b.nextID
	b.nextID++
	b.revoke[id] = fn
	return func() {
		b.mu.Lock()
		delete(b.revoke, id)
		b.mu.Unlock()
	}
}

// emit publishes e to the OnEvent hook and to subscribers.
func (s *Server) emit(ctx context.Context, e Event) {
	s.metrics.event(e.Type)
	h := s.cfg.Hooks.OnEvent
	b := &s.events
	b.mu.Lock()
	none := len(b.subs) == 0
	b.mu.Unlock()
	if h == nil && none {
		return // nobody listens: no event id, no clock read
	}
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	if h != nil {
		s.runHook(ctx, "OnEvent", func() error { h(ctx, e); return nil })
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// revoked tells revocation subscribers and the OnRevocation hook.
func (s *Server) revoked(ctx context.Context, jti, grantID string) {
	s.publishRevocation(jti, grantID)
	if h := s.cfg.Hooks.OnRevocation; h != nil {
		id := jti
		if id == "" {
			id = grantID
		}
		s.runHook(ctx, "OnRevocation", func() error { return h(ctx, id) })
	}
}

// runHook runs a host hook; failures and panics are logged and swallowed so
// a hook can never change a response.
func (s *Server) runHook(ctx context.Context, name string, fn func() error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.ErrorContext(ctx, "mcpauth: hook panicked", "hook", name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if err := fn(); err != nil {
		s.log.WarnContext(ctx, "mcpauth: hook failed", "hook", name, "err", err)
	}
}

// publishRevocation tells revocation subscribers (verifiers' token caches)
// that a jti or a grant id carried by tokens was revoked.
func (s *Server) publishRevocation(jti, grantID string) {
	if s.verified != nil {
		s.verified.revoke(jti, grantID)
	}
	b := &s.events
	b.mu.Lock()
	fns := make([]func(string, string), 0, len(b.revoke))
	for _, fn := range b.revoke {
		fns = append(fns, fn)
	}
	b.mu.Unlock()
	for _, fn := range fns {
		fn(jti, grantID)
	}
}
