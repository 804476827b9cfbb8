package postgres

import (
	"testing"
)

// resetFeed empties the revocation feed between conformance subtests.
func resetFeed(tb testing.TB, s *Store) {
	tb.Helper()
	if _, err := s.pool.Exec(tb.Context(), `TRUNCATE `+s.feedTable("revocation_feed")); err != nil {
		tb.Fatalf("truncate feed: %v", err)
	}
	if _, err := s.pool.Exec(tb.Context(), `UPDATE `+s.feedTable("revocation_feed_meta")+` SET floor = 0, head = 0`); err != nil {
		tb.Fatalf("reset feed: %v", err)
	}
}
