package store

// This file implements the revocation feed role (RevocationFeedStore) of
// the memory grant store.

import (
	"context"
	"sync"
	"time"

	"github.com/mcpauth/mcpauth/internal/wake"
)

// memFeed is the memory store's revocation log, ordered by ID.
type memFeed struct {
	mu     sync.Mutex
	events []RevocationEvent
	head   int64
	floor  int64
	wake   wake.Set
}

// AppendRevocation implements [RevocationFeedStore].
func (s *memGrantStore) AppendRevocation(_ context.Context, ev RevocationEvent) (int64, error) {
	f := &s.feed
	f.mu.Lock()
	f.head++
	ev.ID = f.head
	f.events = append(f.events, ev)
	f.mu.Unlock()
	f.wake.Wake()
	return ev.ID, nil
}

// RevocationsSince implements [RevocationFeedStore].
func (s *memGrantStore) RevocationsSince(_ context.Context, after int64, limit int) (RevocationPage, error) {
	f := &s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	p := RevocationPage{Floor: f.floor, Head: f.head}
	// Events are ordered by ID: find the first after `after`.
	lo, hi := 0, len(f.events)
	for lo < hi {
		m := (lo + hi) / 2
		if f.events[m].ID <= after {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for _, ev := range f.events[lo:] {
		if len(p.Events) >= limit {
			break
		}
		p.Events = append(p.Events, ev)
	}
	return p, nil
}

// DeleteExpiredRevocations implements [RevocationFeedStore].
func (s *memGrantStore) DeleteExpiredRevocations(_ context.Context, before time.Time, limit int) (int, error) {
	f := &s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.events[:0]
	n := 0
	for _, ev := range f.events {
		if n < limit && ev.ExpiresAt.Before(before) {
			n++
			f.floor = max(f.floor, ev.ID)
			continue
		}
		kept = append(kept, ev)
	}
	clear(f.events[len(kept):])
	f.events = kept
	return n, nil
}

// WatchRevocations implements [RevocationFeedStore]: appends to this store
// wake fn.
func (s *memGrantStore) WatchRevocations(ctx context.Context, fn func()) error {
	return s.feed.wake.Watch(ctx, fn)
}
