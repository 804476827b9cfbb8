package store

// This file defines the revocation feed role of a GrantStore: the durable,
// ordered log of revocations that every replica appends to and every
// verifier follows (served by the root package's Server.RevocationFeedHandler).

import (
	"context"
	"time"
)

// RevocationEvent is one revocation in the feed: an access token (TokenID,
// its jti) or a grant (GrantID, which every token of the grant carries as
// grnt), revoked at Time. ExpiresAt is when the revoked thing would have
// died anyway (the token's exp; the grant's end, which bounds the exp of
// all its tokens): after it, plus clock leeway, the event tells no one
// anything and the store may sweep it.
type RevocationEvent struct {
	// ID is assigned by the store: strictly increasing across replicas, so
	// a reader resumes after the last ID it saw.
	ID        int64     `json:"id"`
	TokenID   string    `json:"jti,omitempty"`
	GrantID   string    `json:"grant_id,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	Time      time.Time `json:"time"`
}

// RevocationPage is the answer of [RevocationFeedStore.RevocationsSince].
type RevocationPage struct {
	// Events are the retained events with ID > after, oldest first.
	Events []RevocationEvent
	// Floor is the largest ID ever swept (0 when none): a reader whose
	// last seen ID is below Floor may have missed events.
	Floor int64
	// Head is the largest ID ever appended (0 when none): a reader whose
	// last seen ID is above Head read another store (a memory store that
	// restarted) and must start over.
	Head int64
}

// RevocationFeedStore is the revocation feed role of a [GrantStore]: an
// append-only log shared by all replicas. Events are kept until their
// ExpiresAt and then swept by [RevocationFeedStore.DeleteExpiredRevocations].
type RevocationFeedStore interface {
	// AppendRevocation stores ev (its ID is ignored) and returns the ID it
	// was given, larger than every ID appended before it by any replica
	// whose append has returned.
	AppendRevocation(ctx context.Context, ev RevocationEvent) (int64, error)
	// RevocationsSince returns at most limit events with ID > after, oldest
	// first, with the feed's Floor and Head.
	RevocationsSince(ctx context.Context, after int64, limit int) (RevocationPage, error)
	// DeleteExpiredRevocations removes at most limit events whose ExpiresAt
	// is before `before`, raises Floor to the largest ID removed, and
	// reports how many it removed.
	DeleteExpiredRevocations(ctx context.Context, before time.Time, limit int) (int, error)
	// WatchRevocations calls wake (quickly, without blocking) after events
	// are appended, by this replica or (for shared stores) any other, until
	// ctx ends or the watch fails; it returns ctx's error or the failure. A
	// wake may be spurious or stand for several events: the caller reads
	// RevocationsSince. Memory and SQLite stores wake the watchers of the
	// same Store value; PostgreSQL uses LISTEN/NOTIFY.
	WatchRevocations(ctx context.Context, wake func()) error
}
