package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

func TestAddrKey(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"IPv4 as is", "203.0.113.7", "203.0.113.7"},
		{"IPv4-mapped IPv6 is IPv4", "::ffff:203.0.113.7", "203.0.113.7"},
		{"IPv6 by its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"same /64, other host", "2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"next /64", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"zone dropped", "fe80::1%eth0", "fe80::/64"},
		{"loopback", "::1", "::/64"},
		{"not an address", "pipe", "pipe"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		if got := AddrKey(tt.in); got != tt.want {
			t.Errorf("%s: AddrKey(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := NewBackoff(c.now, 2, time.Second, 5*time.Second, 100)
	tests := []struct {
		name     string
		key      string
		advance  time.Duration
		fail     bool // record a failure (else: only ask)
		wantWait time.Duration
	}{
		{"fresh key may try", "x", 0, false, 0},
		{"first free failure", "x", 0, true, 0},
		{"second free failure", "x", 0, true, 0},
		{"third failure: base", "x", 0, true, time.Second},
		{"refused meanwhile", "x", 0, false, time.Second},
		{"other key unaffected", "y", 0, false, 0},
		{"window passed", "x", time.Second, false, 0},
		{"fourth failure doubles", "x", 0, true, 2 * time.Second},
		{"fifth doubles again", "x", 2 * time.Second, true, 4 * time.Second},
		{"sixth is capped", "x", 4 * time.Second, true, 5 * time.Second},
		{"seventh stays capped", "x", 5 * time.Second, true, 5 * time.Second},
		{"forgotten after 2×max without failure", "x", 10 * time.Second, true, 0},
	}
	for _, tt := range tests {
		c.advance(tt.advance)
		var got time.Duration
		if tt.fail {
			got = b.Fail(tt.key)
		} else {
			got = b.Wait(tt.key)
		}
		if got != tt.wantWait {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.wantWait)
		}
	}
	b.Fail("x")
	b.Fail("x")
	if got := b.Wait("x"); got != time.Second {
		t.Fatalf("before Reset: wait %v, want 1s", got)
	}
	b.Reset("x")
	if got := b.Wait("x"); got != 0 {
		t.Errorf("after Reset: wait %v, want 0", got)
	}
}

// TestBackoffBounded: however many names are tried, at most maxKeys are
// kept, the most recently failed ones.
func TestBackoffBounded(t *testing.T) {
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := NewBackoff(c.now, 0, time.Minute, time.Hour, 100)
	b.Fail("victim")
	for i := range 99 {
		b.Fail("spray" + strconv.Itoa(i))
	}
	if got := b.Wait("victim"); got != time.Minute {
		t.Fatalf("victim: wait %v, want 1m", got)
	}
	for i := range 1000 {
		c.advance(time.Millisecond)
		b.Fail("more" + strconv.Itoa(i))
	}
	if got := b.Len(); got != 100 {
		t.Errorf("Len = %d, want 100", got)
	}
	if got := b.Wait("more999"); got != time.Minute {
		t.Errorf("newest key dropped: wait %v", got)
	}
	c.advance(2 * time.Hour)
	b.Fail("fresh")
	b.EvictIdle()
	if got := b.Len(); got != 1 {
		t.Errorf("Len after EvictIdle = %d, want 1", got)
	}
}
