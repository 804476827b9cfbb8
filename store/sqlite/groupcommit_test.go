package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// killChildEnv names the database file in the child process of
// TestKill9KeepsAcknowledgedRotations.
const killChildEnv = "MCPAUTH_SQLITE_KILL9_CHILD"

const killWorkers = 16

// TestKill9KeepsAcknowledgedRotations runs a child process doing refresh
// rotations from 16 goroutines (so they share group commits), printing the
// new token's digest after each acknowledged rotation, and SIGKILLs it mid-
// flight. Every rotation it acknowledged must be in the database after
// reopening: group commit acknowledges nothing before its durable commit.
func TestKill9KeepsAcknowledgedRotations(t *testing.T) {
	if path := os.Getenv(killChildEnv); path != "" {
		rotateUntilKilled(path)
		return
	}
	path := filepath.Join(t.TempDir(), "kill.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9KeepsAcknowledgedRotations$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	const want = 400 // acknowledged rotations before the kill
	var acked []string
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "ack ") {
			continue // the test binary's own output
		}
		acked = append(acked, strings.TrimPrefix(line, "ack "))
		if len(acked) == want && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true // lines already in the pipe were acknowledged too
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("child stopped after %d acknowledged rotations, before the kill", len(acked))
	}

	st, err := Open(t.Context(), path, WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lost := 0
	for _, d := range acked {
		if _, err := st.LookupRefresh(t.Context(), d); err != nil && !errors.Is(err, store.ErrRefreshReused) {
			lost++
			t.Errorf("acknowledged rotation to %s lost after kill -9: %v", d, err)
		}
	}
	t.Logf("%d acknowledged rotations, %d lost", len(acked), lost)
}

// rotateUntilKilled is the child: killWorkers chains of rotations, each
// printed once the store acknowledged it. It stops when stdout is gone.
func rotateUntilKilled(path string) {
	ctx := context.Background()
	st, err := Open(ctx, path, WithLogger(quiet))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	now := time.Now()
	if err := st.CreateGrant(ctx, &store.GrantRecord{ID: "g", ClientID: "c", Subject: "alice",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	rec := func() *store.RefreshRecord {
		return &store.RefreshRecord{GrantID: "g", ClientID: "c", Subject: "alice", Scopes: []string{"read"},
			IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range killWorkers {
		wg.Go(func() {
			cur := fmt.Sprintf("w%d-0", w)
			if err := st.SaveRefresh(ctx, cur, rec()); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			for i := 1; i < 1_000_000; i++ {
				next := fmt.Sprintf("w%d-%d", w, i)
				if _, err := st.RotateRefresh(ctx, cur, next, rec(), 0); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				_, err := fmt.Fprintf(os.Stdout, "ack %s\n", next)
				mu.Unlock()
				if err != nil {
					os.Exit(0) // the parent is gone
				}
				cur = next
			}
		})
	}
	wg.Wait()
	os.Exit(0)
}

// TestGroupCommitIsolatesFailures commits one batch of five writes by hand:
// two rotations, a rotation whose new digest is taken (ErrConflict), a
// replayed rotation (ErrRefreshReused) and a write whose context ended while
// queued. The failures undo only themselves (their savepoints); the others
// commit together.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	ctx := t.Context()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "gc.db"), WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	rec := func() *store.RefreshRecord {
		return &store.RefreshRecord{GrantID: "g", ClientID: "c", Subject: "alice", Scopes: []string{"read"},
			IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	if err := st.CreateGrant(ctx, &store.GrantRecord{ID: "g", ClientID: "c", Subject: "alice",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"a", "b", "c", "taken", "used", "used2", "late"} {
		if err := st.SaveRefresh(ctx, d, rec()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.RotateRefresh(ctx, "used", "used-next", rec(), 0); err != nil {
		t.Fatal(err)
	}
	rotate := func(old, next string) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := st.rotateRefresh(ctx, tx, old, next, rec(), 0)
			return err
		}
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	batch := []*writeOp{
		{ctx: ctx, fn: rotate("a", "a2")},
		{ctx: ctx, fn: rotate("b", "taken")},
		{ctx: ctx, fn: rotate("used", "used3")},
		{ctx: ended, fn: rotate("late", "late2")},
		{ctx: ctx, fn: rotate("c", "c2")},
	}
	for _, op := range batch {
		op.done = make(chan struct{})
	}
	st.commitBatch(batch)
	for i, want := range []error{nil, store.ErrConflict, store.ErrRefreshReused, context.Canceled, nil} {
		<-batch[i].done
		if got := batch[i].err; (want == nil) != (got == nil) || (want != nil && !errors.Is(got, want)) {
			t.Errorf("op %d: err = %v, want %v", i, got, want)
		}
	}
	for _, c := range []struct {
		digest string
		want   error // from LookupRefresh
	}{
		{"a", store.ErrRefreshReused}, {"a2", nil}, // committed
		{"c", store.ErrRefreshReused}, {"c2", nil}, // committed with it
		{"b", nil},                                  // its failed rotation undone
		{"late", nil}, {"late2", store.ErrNotFound}, // never run
		{"used3", store.ErrNotFound},
	} {
		if _, err := st.LookupRefresh(ctx, c.digest); (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("LookupRefresh(%s) = %v, want %v", c.digest, err, c.want)
		}
	}
}
