package ratelimit

import (
	"container/list"
	"sync"
	"time"
)

// Backoff counts consecutive failures per key (an account name) and, past
// Free failures, refuses the key for a delay that doubles with each further
// failure, from Base up to Max. Failures are forgotten after 2×Max without
// one. At most maxKeys keys are tracked: past that the key whose last failure
// is oldest is dropped, so memory is bounded however many names are tried.
type Backoff struct {
	now       func() time.Time
	free      int
	base, max time.Duration
	maxKeys   int

	mu      sync.Mutex
	entries map[string]*list.Element
	lru     list.List // of *failures; front: most recent failure
}

type failures struct {
	key   string
	count int
	last  time.Time // of the last failure
	until time.Time // refused before this
}

// NewBackoff returns a Backoff reading time from now (nil: time.Now). free
// is at least 0, 0 < base <= max, maxKeys > 0.
func NewBackoff(now func() time.Time, free int, base, max time.Duration, maxKeys int) *Backoff {
	if now == nil {
		now = time.Now
	}
	return &Backoff{now: now, free: free, base: base, max: max, maxKeys: maxKeys, entries: make(map[string]*list.Element)}
}

// forget is how long without a failure before a key's count restarts: longer
// than the cap, so a guesser at the cap stays there.
func (b *Backoff) forget() time.Duration { return 2 * b.max }

// Wait reports how long key is still refused (0: it may try now).
func (b *Backoff) Wait(key string) time.Duration {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok {
		return 0
	}
	f := e.Value.(*failures)
	if now.Sub(f.last) >= b.forget() {
		b.removeLocked(e)
		return 0
	}
	return max(f.until.Sub(now), 0)
}

// Fail records a failure of key and returns how long key is now refused.
func (b *Backoff) Fail(key string) time.Duration {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	var f *failures
	if ok {
		f = e.Value.(*failures)
		if now.Sub(f.last) >= b.forget() {
			f.count = 0
		}
		b.lru.MoveToFront(e)
	} else {
		for len(b.entries) >= b.maxKeys {
			b.removeLocked(b.lru.Back())
		}
		f = &failures{key: key}
		b.entries[key] = b.lru.PushFront(f)
	}
	f.count++
	f.last = now
	d := b.delay(f.count)
	f.until = now.Add(d)
	return d
}

// delay is the refusal after n consecutive failures.
func (b *Backoff) delay(n int) time.Duration {
	n -= b.free
	if n <= 0 {
		return 0
	}
	d := b.base
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// Reset forgets key's failures (after a success).
func (b *Backoff) Reset(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok {
		b.removeLocked(e)
	}
}

// EvictIdle drops keys whose failures are forgotten.
func (b *Backoff) EvictIdle() {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for e := b.lru.Back(); e != nil; e = b.lru.Back() {
		if now.Sub(e.Value.(*failures).last) < b.forget() {
			return
		}
		b.removeLocked(e)
	}
}

func (b *Backoff) removeLocked(e *list.Element) {
	delete(b.entries, e.Value.(*failures).key)
	b.lru.Remove(e)
}

// Len reports the number of tracked keys.
func (b *Backoff) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.entries)
}
