// Package ratelimit keeps one token bucket (golang.org/x/time/rate) per key,
// evicting idle buckets so memory stays bounded however many clients call.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxKeys caps the number of live buckets; past it the idlest are evicted.
const MaxKeys = 100_000

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

// Limiter limits events per key. The zero value is not usable; use New.
type Limiter struct {
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

// New returns a Limiter reading time from now (nil: time.Now).
func New(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, buckets: make(map[string]*bucket)}
}

// Allow takes one token from key's bucket of n events per period (burst n).
// It returns 0 when allowed, else how long until a token is available.
func (l *Limiter) Allow(key string, n int, per time.Duration) time.Duration {
	now := l.now()
	l.mu.Lock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= MaxKeys {
			l.evictLocked(now, 0)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Every(per/time.Duration(n)), n)}
		l.buckets[key] = b
	}
	b.lastSeen = now
	l.mu.Unlock()

	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return per
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// EvictIdle drops buckets unused for idle (a bucket idle that long is full
// again, so dropping it changes nothing).
func (l *Limiter) EvictIdle(idle time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evictLocked(l.now(), idle)
}

func (l *Limiter) evictLocked(now time.Time, idle time.Duration) {
	for k, b := range l.buckets {
		if now.Sub(b.lastSeen) >= idle {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= MaxKeys { // everyone is active: shed half at random
		i := 0
		for k := range l.buckets {
			if i%2 == 0 {
				delete(l.buckets, k)
			}
			i++
		}
	}
}

// Len reports the number of live buckets.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
