package postgres

// This file implements store.RevocationFeedStore. Appends NOTIFY a
// channel named after the schema; every replica's watcher LISTENs on it,
// which is how replicas learn of each other's revocations at once.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpauth/mcpauth/store"
)

// feedChannel is the NOTIFY channel of the schema's revocation feed.
func (s *Store) feedChannel() string {
	h := sha256.Sum256([]byte(s.schema))
	return "mcpauth_feed_" + hex.EncodeToString(h[:8])
}

func (s *Store) feedTable(name string) string {
	return pgx.Identifier{s.schema, name}.Sanitize()
}

// AppendRevocation implements [store.RevocationFeedStore] in one
// statement: take the next id under the meta row's lock (held until
// commit, so ids commit in order), insert, notify (delivered at commit).
func (s *Store) AppendRevocation(ctx context.Context, ev store.RevocationEvent) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `WITH h AS (
			UPDATE `+s.feedTable("revocation_feed_meta")+` SET head = head + 1 RETURNING head
		), ins AS (
			INSERT INTO `+s.feedTable("revocation_feed")+` (id, jti, grant_id, expires_at, created_at)
			SELECT head, $1, $2, $3, $4 FROM h RETURNING id
		)
		SELECT id, pg_notify($5, id::text) FROM ins`,
		ev.TokenID, ev.GrantID, ev.ExpiresAt, ev.Time, s.feedChannel()).Scan(&id, new(any))
	if err != nil {
		return 0, s.fail("append revocation", err)
	}
	return id, nil
}

// RevocationsSince implements [store.RevocationFeedStore].
func (s *Store) RevocationsSince(ctx context.Context, after int64, limit int) (store.RevocationPage, error) {
	var p store.RevocationPage
	if err := s.pool.QueryRow(ctx, `SELECT floor, head FROM `+s.feedTable("revocation_feed_meta")).Scan(&p.Floor, &p.Head); err != nil {
		return p, s.fail("revocations since", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT id, jti, grant_id, expires_at, created_at FROM `+s.feedTable("revocation_feed")+`
		WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return p, s.fail("revocations since", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ev store.RevocationEvent
		if err := rows.Scan(&ev.ID, &ev.TokenID, &ev.GrantID, &ev.ExpiresAt, &ev.Time); err != nil {
			return p, s.fail("revocations since", err)
		}
		ev.ExpiresAt, ev.Time = utc(ev.ExpiresAt), utc(ev.Time)
		p.Events = append(p.Events, ev)
	}
	if err := rows.Err(); err != nil {
		return p, s.fail("revocations since", err)
	}
	return p, nil
}

// DeleteExpiredRevocations implements [store.RevocationFeedStore].
func (s *Store) DeleteExpiredRevocations(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `WITH del AS (
			DELETE FROM `+s.feedTable("revocation_feed")+` WHERE id IN
				(SELECT id FROM `+s.feedTable("revocation_feed")+` WHERE expires_at < $1 ORDER BY id LIMIT $2)
			RETURNING id
		), up AS (
			UPDATE `+s.feedTable("revocation_feed_meta")+` SET floor = GREATEST(floor, (SELECT max(id) FROM del))
			WHERE EXISTS (SELECT 1 FROM del)
		)
		SELECT count(*) FROM del`, before, limit).Scan(&n)
	if err != nil {
		return 0, s.fail("delete expired revocations", err)
	}
	return n, nil
}

// WatchRevocations implements [store.RevocationFeedStore] with LISTEN on
// a connection of its own, taken from the pool for the watch's lifetime.
func (s *Store) WatchRevocations(ctx context.Context, wake func()) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.fail("watch revocations", err)
	}
	conn := c.Hijack() // LISTEN state must not return to the pool
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.feedChannel()}.Sanitize()); err != nil {
		return s.fail("watch revocations", err)
	}
	wake() // anything appended before LISTEN took effect
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return s.fail("watch revocations", err)
		}
		wake()
	}
}
