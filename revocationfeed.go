package mcpauth

// This file publishes revocations to resource servers: the revocation
// feed. Every revocation is appended to the store's feed
// (RevocationFeedStore) before /revoke answers; each replica follows the
// feed (PostgreSQL LISTEN/NOTIFY, in process for memory and SQLite) to tell
// its in-process verifiers, and serves it as Server-Sent Events carrying
// RFC 8417 Security Event Tokens to remote verifiers.
//
// Why SSE and not RFC 8936 polling: a verifier must refuse a revoked token
// within a second. SSE pushes each event as it happens over one response,
// where polling trades latency for request rate; and SSE's own resume
// (the id field, Last-Event-ID) is exactly the feed's event id. Each
// message is still an RFC 8417 SET, so the payload is the standard one.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/store"
)

// RevocationFeedPath is where, below the issuer, the revocation feed is
// served ([Server.ServeHTTP]).
const RevocationFeedPath = "/revocations"

// The event types of the feed's SETs (RFC 8417 §2.2 "events"). The event
// object carries "jti" (token-revoked) or "grant_id" (grant-revoked: every
// token whose grnt claim is this id), and "exp", the NumericDate after
// which (plus clock leeway) the revoked tokens are dead anyway.
const (
	SETEventTokenRevoked = "urn:mcpauth:secevent:token-revoked"
	SETEventGrantRevoked = "urn:mcpauth:secevent:grant-revoked"
)

// Defaults for [RevocationFeedConfig].
const (
	defaultRevocationFeedHeartbeat = 15 * time.Second
	defaultRevocationFeedPoll      = 5 * time.Second
	DefaultRevocationFeedStreams   = 1000
)

// feedPage bounds the events read from the store at once.
const feedPage = 500

// RevocationFeedConfig configures the revocation feed (Config.RevocationFeed).
//
// Who may read it: a client named in Config.Introspectors, authenticated
// with HTTP Basic (RFC 6749 §2.3.1), or whoever presents OperatorSecret as
// a bearer token. Retention: an event is kept until the token or grant it
// revokes has expired (plus clock leeway), then swept; a verifier resuming
// from a swept id is told to drop its whole token cache.
type RevocationFeedConfig struct {
	// OperatorSecret, when not empty, is accepted in place of client
	// credentials (Authorization: Bearer <secret>), compared in constant
	// time. The standalone server passes its audit-stream secret.
	OperatorSecret string
	// Heartbeat is how often an SSE comment is sent on an idle feed, so
	// verifiers can tell a dead connection from a quiet feed. Default
	// 15 s.
	Heartbeat time.Duration
	// PollInterval is how often each replica reads the store's feed even
	// without a notification (a lost NOTIFY, another process on the same
	// SQLite file). Default 5 s.
	PollInterval time.Duration
	// MaxStreams bounds the feed streams this replica serves at once;
	// beyond it a reader gets 503 with Retry-After and reconnects later.
	// Default [DefaultRevocationFeedStreams].
	MaxStreams int
}

// feedHub wakes this replica's feed readers when the store's feed moved.
type feedHub struct {
	mu      sync.Mutex
	ch      chan struct{} // closed and replaced on every change
	down    atomic.Bool   // the store's watch is failing
	last    atomic.Int64  // the last event id this replica has published
	streams atomic.Int64  // streams being served

	setMu sync.Mutex
	sets  map[int64]signedSET // recently signed SETs, so N readers catching up sign each once
}

type signedSET struct{ kid, jws string }

// maxCachedSETs bounds feedHub.sets.
const maxCachedSETs = 4096

func (h *feedHub) changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ch == nil {
		h.ch = make(chan struct{})
	}
	return h.ch
}

func (h *feedHub) broadcast() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ch != nil {
		close(h.ch)
		h.ch = nil
	}
}

// RevocationFeedDegraded reports whether this replica cannot currently
// follow the store's revocation feed (its watch fails), so revocations made
// by other replicas reach this replica's verifiers late.
func (s *Server) RevocationFeedDegraded() bool { return s.feed.down.Load() }

func (s *Server) feedRoutes() {
	// Rate limited per address as other endpoints (a verifier reconnects
	// with backoff); a stream is not a request body, so no deadline applies.
	s.handle(s.basePath+RevocationFeedPath, route{methods: "GET", limit: limits.EndpointDefault, handler: s.serveFeed, errors: errorsJSON})
}

// feedAppend puts a revocation in the feed. Revocation handlers call it
// before they revoke, so no revocation is answered without its event.
func (s *Server) feedAppend(ctx context.Context, jti, grantID string, exp time.Time) error {
	_, err := s.grants.AppendRevocation(ctx, store.RevocationEvent{TokenID: jti, GrantID: grantID, ExpiresAt: exp.UTC(), Time: s.now().UTC()})
	if err != nil {
		return fmt.Errorf("mcpauth: appending to the revocation feed: %w", err)
	}
	s.feed.broadcast()
	return nil
}

// feedGrant puts a grant's revocation in the feed: our grant id and, in
// managed mode, Grantex's (Grantex tokens carry that one as grnt). The
// events live until the grant ends, which bounds its tokens' exp; an
// unknown grant's until every token it could have issued has expired.
func (s *Server) feedGrant(ctx context.Context, grantID string) error {
	exp := s.now().Add(s.cfg.AccessTokenTTL + clockLeeway)
	g, err := s.grants.GetGrant(ctx, grantID)
	switch {
	case err == nil:
		exp = g.ExpiresAt.Add(clockLeeway)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if err := s.feedAppend(ctx, "", grantID, exp); err != nil {
		return err
	}
	if g != nil && g.UpstreamGrantID != "" {
		return s.feedAppend(ctx, "", g.UpstreamGrantID, exp)
	}
	return nil
}

// startFeed follows the store's feed: events appended by any replica are
// told to this process's revocation subscribers (Local verifiers'
// caches) and wake the feed's SSE readers.
func (s *Server) startFeed() {
	ctx, cancel := context.WithCancel(context.Background())
	kick := make(chan struct{}, 1)
	wake := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		<-s.stop
		cancel()
	}()
	go func() {
		defer s.wg.Done()
		for backoff := 100 * time.Millisecond; ctx.Err() == nil; backoff = min(2*backoff, 5*time.Second) {
			err := s.grants.WatchRevocations(ctx, func() { s.feed.down.Store(false); wake() })
			if ctx.Err() != nil {
				return
			}
			s.feed.down.Store(true)
			s.log.Warn("mcpauth: revocation feed: watching the store failed; polling until it is back", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			wake() // catch up with what the watch missed
		}
	}()
	poll := s.cfg.RevocationFeed.PollInterval
	if poll <= 0 {
		poll = defaultRevocationFeedPoll
	}
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(poll)
		defer t.Stop()
		last := int64(-1) // unknown: start at the head
		for {
			last = s.feedFollow(ctx, last)
			select {
			case <-ctx.Done():
				return
			case <-kick:
			case <-t.C:
			}
		}
	}()
}

// feedFollow publishes the events after last to this process and returns
// the new last id.
func (s *Server) feedFollow(ctx context.Context, last int64) int64 {
	for {
		after := last
		if after < 0 {
			after = math.MaxInt64
		}
		p, err := s.grants.RevocationsSince(ctx, after, feedPage)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("mcpauth: revocation feed: reading the store failed", "err", err)
			}
			return last
		}
		if last < 0 || p.Head < last {
			last = p.Head // first read, or the store started over
		}
		for _, ev := range p.Events {
			s.publishRevocation(ev.TokenID, ev.GrantID)
			last = ev.ID
		}
		s.feed.last.Store(last)
		s.feed.broadcast()
		if len(p.Events) < feedPage {
			return last
		}
	}
}

// sweepFeed removes the events whose tokens are dead anyway.
func (s *Server) sweepFeed() {
	for range 100 {
		n, err := s.grants.DeleteExpiredRevocations(context.Background(), s.now().Add(-clockLeeway), 1000)
		if err != nil {
			s.log.Warn("mcpauth: sweeping the revocation feed", "err", err)
			return
		}
		if n < 1000 {
			return
		}
	}
}

// serveFeed serves the revocation feed as Server-Sent Events (WHATWG HTML
// §9.2). GET, authenticated (see [RevocationFeedConfig]); the stream
// resumes after the event id in Last-Event-ID (or the "after" query
// parameter), from the start without one. Messages:
//
//	id: <event id>
//	event: revocation
//	data: <an RFC 8417 SET, signed with the issuer's current key, typ secevent+jwt>
//
//	event: reset        the resume id is older than the retention (or from
//	data: {}            another store): drop every cached token; the
//	                    retained events follow from the start
//
//	event: sync         every event up to now has been sent
//	data: {}
//
// and ": heartbeat" comments every Heartbeat.
func (s *Server) serveFeed(w http.ResponseWriter, r *http.Request) error {
	if err := s.feedAuthorized(r); err != nil {
		return err
	}
	limit := s.cfg.RevocationFeed.MaxStreams
	if limit <= 0 {
		limit = DefaultRevocationFeedStreams
	}
	if n := s.feed.streams.Add(1); n > int64(limit) {
		s.feed.streams.Add(-1)
		s.log.Warn("mcpauth: revocation feed: too many streams; refusing one", "max", limit)
		return oauth.TemporarilyUnavailable(5*time.Second, "too many revocation feed readers; retry shortly")
	}
	defer s.feed.streams.Add(-1)
	after := int64(0)
	id := r.Header.Get("Last-Event-ID")
	if id == "" {
		id = r.URL.Query().Get("after")
	}
	if id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n < 0 {
			return oauth.InvalidRequest("Last-Event-ID must be a feed event id")
		}
		after = n
	}
	ctx := r.Context()
	// Read first, so a store failure is an error answer, not a stream.
	wake := s.feed.changed()
	p, err := s.grants.RevocationsSince(ctx, after, feedPage)
	if err != nil {
		return storeErr(err)
	}
	// From here on the answer is a stream: failures end it, and the
	// reader reconnects and resumes.
	h := w.Header()
	rc := http.NewResponseController(w)
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// Each write must be taken within 10 s; between writes no deadline
	// runs (over HTTP/2 an expired deadline resets the stream).
	write := func(msg string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		defer rc.SetWriteDeadline(time.Time{})
		if _, err := io.WriteString(w, msg); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if after > 0 && (after < p.Floor || after > p.Head) {
		s.log.Info("mcpauth: revocation feed: resume id outside retention; reader resets", "after", after, "floor", p.Floor, "head", p.Head)
		if !write("event: reset\ndata: {}\n\n") {
			return nil
		}
		after = 0
		if p, err = s.grants.RevocationsSince(ctx, 0, feedPage); err != nil {
			return nil
		}
	}
	beat := s.cfg.RevocationFeed.Heartbeat
	if beat <= 0 {
		beat = defaultRevocationFeedHeartbeat
	}
	t := time.NewTicker(beat)
	defer t.Stop()
	synced := false
	for {
		for _, ev := range p.Events {
			set, err := s.signSET(ctx, ev)
			if err != nil {
				s.log.Warn("mcpauth: revocation feed: signing an event failed", "err", err)
				return nil
			}
			if !write("id: " + strconv.FormatInt(ev.ID, 10) + "\nevent: revocation\ndata: " + set + "\n\n") {
				return nil
			}
			after = ev.ID
		}
		if len(p.Events) < feedPage {
			if !synced {
				if !write("event: sync\ndata: {}\n\n") {
					return nil
				}
				synced = true
			}
			select {
			case <-ctx.Done():
				return nil
			case <-s.stop:
				return nil
			case <-wake:
			case <-t.C:
				if !write(": heartbeat\n\n") {
					return nil
				}
			}
			wake = s.feed.changed()
		}
		if p, err = s.grants.RevocationsSince(ctx, after, feedPage); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("mcpauth: revocation feed: reading the store failed; closing the stream", "err", err)
			}
			return nil // the reader reconnects and resumes
		}
	}
}

// feedAuthorized admits the operator secret or an introspector client;
// anyone else gets 401 invalid_client with a Basic challenge, or 403
// access_denied for an authenticated client that is not an introspector.
func (s *Server) feedAuthorized(r *http.Request) error {
	auth := r.Header.Get("Authorization")
	challenge := func(desc string) error {
		e := oauth.InvalidClient("%s", desc)
		e.BasicChallenge = true
		return e
	}
	if sec := s.cfg.RevocationFeed.OperatorSecret; sec != "" {
		if tok, ok := strings.CutPrefix(auth, "Bearer "); ok {
			a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(sec))
			if subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
				return nil
			}
			return challenge("bad credentials")
		}
	}
	if _, _, ok := r.BasicAuth(); !ok {
		return challenge("the revocation feed needs the credentials of a designated resource server")
	}
	client, err := s.authenticateClient(r, url.Values{}, false)
	if err != nil {
		return err
	}
	if client.IsPublic() || !slices.Contains(s.cfg.Introspectors, client.ID) {
		s.log.Warn("mcpauth: revocation feed refused to a client that is not an introspector", "client_id", client.ID)
		return oauth.AccessDenied("this client may not read the revocation feed")
	}
	return nil
}

// signSET makes the RFC 8417 SET of one event.
func (s *Server) signSET(ctx context.Context, ev store.RevocationEvent) (string, error) {
	key, err := s.keys.Signer(ctx)
	if err != nil {
		return "", err
	}
	h := &s.feed
	h.setMu.Lock()
	c, ok := h.sets[ev.ID]
	h.setMu.Unlock()
	if ok && c.kid == key.ID {
		return c.jws, nil
	}
	typ, body := SETEventTokenRevoked, map[string]any{"jti": ev.TokenID, "exp": ev.ExpiresAt.Unix()}
	if ev.TokenID == "" {
		typ, body = SETEventGrantRevoked, map[string]any{"grant_id": ev.GrantID, "exp": ev.ExpiresAt.Unix()}
	}
	claims, err := json.Marshal(map[string]any{
		"iss":    s.cfg.Issuer,
		"jti":    strconv.FormatInt(ev.ID, 10),
		"iat":    s.now().Unix(),
		"toe":    ev.Time.Unix(),
		"events": map[string]any{typ: body},
	})
	if err != nil {
		return "", err
	}
	jws, err := key.SignSET(claims)
	if err != nil {
		return "", err
	}
	h.setMu.Lock()
	if h.sets == nil {
		h.sets = map[int64]signedSET{}
	}
	if len(h.sets) >= maxCachedSETs {
		for id := range h.sets { // random eviction
			delete(h.sets, id)
			break
		}
	}
	h.sets[ev.ID] = signedSET{kid: key.ID, jws: jws}
	h.setMu.Unlock()
	return jws, nil
}
