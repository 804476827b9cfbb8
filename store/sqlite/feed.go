package sqlite

// This file implements store.RevocationFeedStore. A SQLite database has
// one writing node: appends wake the watchers of this Store in process.

import (
	"context"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// AppendRevocation implements [store.RevocationFeedStore].
func (s *Store) AppendRevocation(ctx context.Context, ev store.RevocationEvent) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.fail("append revocation", err)
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO revocation_feed (jti, grant_id, expires_at, created_at)
		VALUES (?1, ?2, ?3, ?4) RETURNING id`, ev.TokenID, ev.GrantID, micros(ev.ExpiresAt), micros(ev.Time)).Scan(&id)
	if err != nil {
		return 0, s.fail("append revocation", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE revocation_feed_meta SET head = max(head, ?1)`, id); err != nil {
		return 0, s.fail("append revocation", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, s.fail("append revocation", err)
	}
	s.feed.Wake()
	return id, nil
}

// RevocationsSince implements [store.RevocationFeedStore].
func (s *Store) RevocationsSince(ctx context.Context, after int64, limit int) (store.RevocationPage, error) {
	var p store.RevocationPage
	// The writer: a reader connection could lag behind an append this
	// process has just been woken for.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return p, s.fail("revocations since", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT floor, head FROM revocation_feed_meta`).Scan(&p.Floor, &p.Head); err != nil {
		return p, s.fail("revocations since", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, jti, grant_id, expires_at, created_at FROM revocation_feed
		WHERE id > ?1 ORDER BY id LIMIT ?2`, after, limit)
	if err != nil {
		return p, s.fail("revocations since", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ev store.RevocationEvent
		var exp, at int64
		if err := rows.Scan(&ev.ID, &ev.TokenID, &ev.GrantID, &exp, &at); err != nil {
			return p, s.fail("revocations since", err)
		}
		ev.ExpiresAt, ev.Time = fromMicros(exp), fromMicros(at)
		p.Events = append(p.Events, ev)
	}
	if err := rows.Err(); err != nil {
		return p, s.fail("revocations since", err)
	}
	return p, nil
}

// DeleteExpiredRevocations implements [store.RevocationFeedStore].
func (s *Store) DeleteExpiredRevocations(ctx context.Context, before time.Time, limit int) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.fail("delete expired revocations", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `DELETE FROM revocation_feed WHERE id IN
		(SELECT id FROM revocation_feed WHERE expires_at < ?1 LIMIT ?2) RETURNING id`, micros(before), limit)
	if err != nil {
		return 0, s.fail("delete expired revocations", err)
	}
	n, top := 0, int64(0)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, s.fail("delete expired revocations", err)
		}
		n, top = n+1, max(top, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, s.fail("delete expired revocations", err)
	}
	if n > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE revocation_feed_meta SET floor = max(floor, ?1)`, top); err != nil {
			return 0, s.fail("delete expired revocations", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, s.fail("delete expired revocations", err)
	}
	return n, nil
}

// WatchRevocations implements [store.RevocationFeedStore]: appends
// through this Store wake fn.
func (s *Store) WatchRevocations(ctx context.Context, fn func()) error {
	return s.feed.Watch(ctx, fn)
}
