package sqlite

// This file implements group commit: concurrent writes share one durable
// transaction (issue 12). With synchronous=FULL every commit waits for a
// disk sync, and one writer connection makes commits strictly sequential;
// committing writes one by one caps throughput at one sync per write no
// matter how many clients wait. Here the writes that queue up while one
// transaction commits go into the next one together, each inside its own
// SAVEPOINT so that a write that fails (a conflict, a replayed code) undoes
// only itself. A writer hears back only after the transaction holding its
// write has committed: no write is acknowledged before it is durable.

import (
	"context"
	"database/sql"
	"sync"
)

// maxBatch bounds the writes of one transaction, so one commit's latency
// stays bounded however long the queue grows.
const maxBatch = 256

// writeOp is one write waiting for a transaction.
type writeOp struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	err  error
	done chan struct{}
}

// committer is the queue of writes. The goroutine that finds it idle leads:
// it commits one batch, and hands what queued meanwhile to a new goroutine.
type committer struct {
	mu      sync.Mutex
	queue   []*writeOp
	running bool
	batches int // transactions begun, for tests
	writes  int // writes queued, for tests
}

// write runs fn in a write transaction shared with the writes queued beside
// it and returns fn's error, or the transaction's if it failed to commit.
// fn must use only tx (the writer connection is busy with the batch) and
// return errors already wrapped for the caller. fn runs with ctx's values
// but not its cancellation: once started, a write is not torn in half; a
// write whose ctx ends while queued is not run.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return s.fail("write", err)
	}
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan struct{})}
	c := &s.gc
	c.mu.Lock()
	c.queue = append(c.queue, op)
	c.writes++
	lead := !c.running
	c.running = true
	c.mu.Unlock()
	if lead {
		s.drain()
	}
	<-op.done
	return op.err
}

// drain commits one batch of queued writes, then passes the queue on.
func (s *Store) drain() {
	c := &s.gc
	c.mu.Lock()
	n := min(len(c.queue), maxBatch)
	batch := make([]*writeOp, n)
	copy(batch, c.queue)
	c.queue = append(c.queue[:0], c.queue[n:]...)
	c.batches++
	c.mu.Unlock()

	s.commitBatch(batch)

	c.mu.Lock()
	more := len(c.queue) > 0
	if !more {
		c.running = false
	}
	c.mu.Unlock()
	if more {
		go s.drain()
	}
}

// commitBatch runs batch in one transaction and tells every writer.
func (s *Store) commitBatch(batch []*writeOp) {
	ctx := context.Background()
	var abort error // the transaction itself failed: every write fails
	defer func() {
		for _, op := range batch {
			if abort != nil && op.err == nil { // its write was not made durable
				op.err = abort
			}
			close(op.done)
		}
	}()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		abort = s.fail("begin write transaction", err)
		return
	}
	defer tx.Rollback()
	single := len(batch) == 1
	ok := 0
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.err = s.fail("write", err)
			continue
		}
		if single { // nothing to isolate it from
			op.err = op.fn(context.WithoutCancel(op.ctx), tx)
			if op.err != nil {
				return // the deferred rollback undoes it
			}
			ok++
			continue
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
			abort = s.fail("write", err)
			return
		}
		op.err = op.fn(context.WithoutCancel(op.ctx), tx)
		if op.err != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO w`); err != nil {
				abort = s.fail("write", err)
				return
			}
		} else {
			ok++
		}
		if _, err := tx.ExecContext(ctx, `RELEASE w`); err != nil {
			abort = s.fail("write", err)
			return
		}
	}
	if ok == 0 {
		return // nothing to commit
	}
	if err := tx.Commit(); err != nil {
		abort = s.fail("commit", err)
	}
}
