// Package wake is an in-process broadcast of "something changed": the
// revocation feed of the memory and SQLite stores wakes its watchers with it.
package wake

import (
	"context"
	"sync"
)

// Set is a set of wake functions. The zero value is ready.
type Set struct {
	mu   sync.Mutex
	fns  map[int]func()
	next int
}

// Wake calls every registered function. They must not block.
func (s *Set) Wake() {
	s.mu.Lock()
	fns := make([]func(), 0, len(s.fns))
	for _, fn := range s.fns {
		fns = append(fns, fn)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Watch registers fn until ctx ends, and returns ctx's error.
func (s *Set) Watch(ctx context.Context, fn func()) error {
	s.mu.Lock()
	if s.fns == nil {
		s.fns = map[int]func(){}
	}
	id := s.next
	s.next++
	s.fns[id] = fn
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	delete(s.fns, id)
	s.mu.Unlock()
	return ctx.Err()
}
