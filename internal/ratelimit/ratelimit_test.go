package ratelimit

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestAllow(t *testing.T) {
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(c.now)
	tests := []struct {
		name    string
		key     string
		advance time.Duration
		want    time.Duration
	}{
		{"first", "a", 0, 0},
		{"burst 2", "a", 0, 0},
		{"burst 3", "a", 0, 0},
		{"over the burst", "a", 0, 20 * time.Second},
		{"a refused attempt costs nothing", "a", 0, 20 * time.Second},
		{"other key unaffected", "b", 0, 0},
		{"partly refilled", "a", 5 * time.Second, 15 * time.Second},
		{"refilled one", "a", 15 * time.Second, 0},
		{"empty again", "a", 0, 20 * time.Second},
	}
	for _, tt := range tests {
		c.advance(tt.advance)
		if got := l.Allow(tt.key, 3, time.Minute); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestEvictIdle(t *testing.T) {
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(c.now)
	for i := range 100 {
		l.Allow("old"+strconv.Itoa(i), 1, time.Minute)
	}
	c.advance(9 * time.Minute)
	for i := range 10 {
		l.Allow("new"+strconv.Itoa(i), 1, time.Minute)
	}
	l.Allow("old0", 1, time.Minute) // touched: stays
	c.advance(time.Minute)
	if got := l.Len(); got != 110 {
		t.Fatalf("Len before eviction = %d, want 110", got)
	}
	l.EvictIdle(10 * time.Minute)
	if got := l.Len(); got != 11 {
		t.Errorf("Len after evicting entries idle 10m = %d, want 11 (10 new + old0)", got)
	}
	// An evicted key starts with a full bucket, as an idle one would have.
	if got := l.Allow("old1", 1, time.Minute); got != 0 {
		t.Errorf("evicted key: got wait %v, want 0", got)
	}
	c.advance(time.Hour)
	l.EvictIdle(10 * time.Minute)
	if got := l.Len(); got != 0 {
		t.Errorf("Len after an idle hour = %d, want 0", got)
	}
}

// TestMaxKeys: memory stays bounded however many keys call.
func TestMaxKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates MaxKeys buckets")
	}
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(c.now)
	for i := range MaxKeys + 10 {
		l.Allow(strconv.Itoa(i), 5, time.Minute)
	}
	if got := l.Len(); got > MaxKeys {
		t.Errorf("Len = %d, want at most %d", got, MaxKeys)
	}
}

func TestAllowConcurrent(t *testing.T) {
	l := New(nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.Allow("k", 10, time.Hour) == 0 {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
			l.Allow(strconv.Itoa(i), 1, time.Hour)
			l.EvictIdle(time.Hour)
		}()
	}
	wg.Wait()
	if allowed != 10 {
		t.Errorf("got %d allowed, want 10", allowed)
	}
}
