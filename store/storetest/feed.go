package storetest

// The conformance cases of the revocation feed role
// (store.RevocationFeedStore).

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

var feedTests = []testCase{
	{"OrderAndResume", testFeedOrderAndResume},
	{"ConcurrentAppendsOrdered", testFeedConcurrent},
	{"ExpirySweepRaisesFloor", testFeedSweep},
	{"WatchWakes", testFeedWatch},
}

func appendEv(t *testing.T, e env, jti, grant string, exp time.Time) int64 {
	t.Helper()
	id, err := e.Grants.AppendRevocation(e.ctx, store.RevocationEvent{TokenID: jti, GrantID: grant, ExpiresAt: exp, Time: e.now()})
	if err != nil {
		t.Fatalf("AppendRevocation: %v", err)
	}
	return id
}

func testFeedOrderAndResume(t *testing.T, e env) {
	exp := e.now().Add(time.Hour)
	p, err := e.Grants.RevocationsSince(e.ctx, 0, 10)
	if err != nil || len(p.Events) != 0 || p.Head != 0 || p.Floor != 0 {
		t.Fatalf("empty feed: %+v, %v", p, err)
	}
	var ids []int64
	for i, jti := range []string{"a", "", "c", "d", ""} {
		grant := ""
		if jti == "" {
			grant = id("grant")
		}
		ids = append(ids, appendEv(t, e, jti, grant, exp.Add(time.Duration(i)*time.Second)))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("ids not increasing: %v", ids)
		}
	}
	p, err = e.Grants.RevocationsSince(e.ctx, 0, 100)
	if err != nil || len(p.Events) != 5 || p.Head != ids[4] {
		t.Fatalf("all: %d events, head %d, %v; want 5, %d", len(p.Events), p.Head, err, ids[4])
	}
	if p.Events[0].TokenID != "a" || p.Events[1].GrantID == "" || !sameTime(p.Events[2].ExpiresAt, exp.Add(2*time.Second)) {
		t.Errorf("events not as appended: %+v", p.Events)
	}
	// Resume after the second: the rest, in order; paged by limit.
	p, err = e.Grants.RevocationsSince(e.ctx, ids[1], 2)
	if err != nil || len(p.Events) != 2 || p.Events[0].ID != ids[2] || p.Events[1].ID != ids[3] {
		t.Fatalf("resume after %d: %+v, %v", ids[1], p.Events, err)
	}
	p, err = e.Grants.RevocationsSince(e.ctx, ids[4], 10)
	if err != nil || len(p.Events) != 0 {
		t.Fatalf("after the head: %+v, %v", p.Events, err)
	}
}

func testFeedConcurrent(t *testing.T, e env) {
	exp := e.now().Add(time.Hour)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if _, err := e.Grants.AppendRevocation(e.ctx, store.RevocationEvent{TokenID: id("jti"), ExpiresAt: exp, Time: e.now()}); err != nil {
					t.Errorf("AppendRevocation: %v", err)
				}
			}
		})
	}
	wg.Wait()
	p, err := e.Grants.RevocationsSince(e.ctx, 0, 100)
	if err != nil || len(p.Events) != 40 {
		t.Fatalf("%d events, %v; want 40", len(p.Events), err)
	}
	for i := 1; i < len(p.Events); i++ {
		if p.Events[i].ID <= p.Events[i-1].ID {
			t.Fatalf("not ordered by id at %d", i)
		}
	}
}

func testFeedSweep(t *testing.T, e env) {
	now := e.now()
	old1 := appendEv(t, e, "old1", "", now.Add(-time.Minute))
	live := appendEv(t, e, "live", "", now.Add(time.Hour))
	old2 := appendEv(t, e, "old2", "", now.Add(-time.Second))
	n, err := e.Grants.DeleteExpiredRevocations(e.ctx, now, 1)
	if err != nil || n != 1 {
		t.Fatalf("sweep limit 1: %d, %v", n, err)
	}
	n, err = e.Grants.DeleteExpiredRevocations(e.ctx, now, 10)
	if err != nil || n != 1 {
		t.Fatalf("second sweep: %d, %v; want 1", n, err)
	}
	p, err := e.Grants.RevocationsSince(e.ctx, 0, 10)
	if err != nil || len(p.Events) != 1 || p.Events[0].ID != live {
		t.Fatalf("after sweep: %+v, %v; want only %d", p.Events, err, live)
	}
	if p.Floor != old2 || p.Head != old2 || old1 >= live {
		t.Errorf("floor %d head %d; want floor %d (largest swept) head %d", p.Floor, p.Head, old2, old2)
	}
	// Ids are never reused after a sweep.
	if next := appendEv(t, e, "next", "", now.Add(time.Hour)); next <= old2 {
		t.Errorf("id %d reused after sweeping %d", next, old2)
	}
}

func testFeedWatch(t *testing.T, e env) {
	ctx, cancel := context.WithCancel(e.ctx)
	woke := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- e.Grants.WatchRevocations(ctx, func() {
			select {
			case woke <- struct{}{}:
			default:
			}
		})
	}()
	// A watch may wake spuriously (PostgreSQL wakes once it listens):
	// keep appending until a wake comes, which it must.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for woken := false; !woken; {
		select {
		case <-woke:
			woken = true
		case <-tick.C:
			appendEv(t, e, id("jti"), "", e.now().Add(time.Hour))
		case <-deadline:
			t.Fatal("WatchRevocations never woke after appends")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WatchRevocations did not return after its context ended")
	}
}
