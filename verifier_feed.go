package mcpauth

// This file is the resource-server side of the revocation feed
// (revocationfeed.go): a remote Verifier given credentials follows the
// issuer's feed of RFC 8417 SETs over Server-Sent Events, refuses the
// revoked tokens and grants, and drops them from its cache.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/mcpauth/mcpauth/internal/jwks"
	"github.com/mcpauth/mcpauth/internal/signing"
)

// defaultFeedIdleTimeout is how long a Verifier waits for any byte of the
// revocation feed (the server sends a heartbeat every 15 s) before it calls
// the connection dead and reconnects.
const defaultFeedIdleTimeout = 45 * time.Second

// RevocationFeedStatus is the state of a Verifier's revocation feed.
type RevocationFeedStatus struct {
	// Enabled: the Verifier follows a feed.
	Enabled bool
	// Connected: the feed is connected and every event up to its last
	// sync has been applied.
	Connected bool
	// Since is when Connected last changed (the Verifier's creation
	// before the first connection).
	Since time.Time
	// LastEventID is the id of the last event applied: where a reconnect
	// resumes.
	LastEventID int64
	// Err is why the feed is down, when it is.
	Err error
}

// feedClient follows the revocation feed for a Verifier.
type feedClient struct {
	url, clientID, secret, token string
	issuer                       string
	http                         *http.Client
	keys                         *jwks.Set
	algs                         []jose.SignatureAlgorithm
	cache                        *tokenCache // nil when caching is off
	leeway                       time.Duration
	failClosed                   time.Duration
	idle                         time.Duration
	log                          *slog.Logger
	now                          func() time.Time
	cancel                       context.CancelFunc
	done                         chan struct{}

	mu          sync.RWMutex
	deniedJTI   map[string]time.Time // until when (exp + leeway)
	deniedGrant map[string]time.Time
	connected   bool
	since       time.Time
	last        int64
	err         error
}

// startFeed starts following the feed when opts give credentials.
func (v *Verifier) startFeed(opts VerifierOptions) error {
	if opts.FeedClientID == "" && opts.FeedToken == "" {
		if opts.FeedClientSecret != "" || opts.FeedURL != "" || opts.FeedFailClosed != 0 {
			return errors.New("mcpauth: VerifierOptions: the revocation feed needs FeedClientID and FeedClientSecret, or FeedToken")
		}
		return nil
	}
	if opts.FeedClientID != "" && opts.FeedClientSecret == "" {
		return errors.New("mcpauth: VerifierOptions: FeedClientID needs FeedClientSecret")
	}
	if v.local != nil {
		return errors.New("mcpauth: VerifierOptions: a Local verifier learns revocations from its Server, not from a feed")
	}
	f := &feedClient{
		url:         opts.FeedURL,
		clientID:    opts.FeedClientID,
		secret:      opts.FeedClientSecret,
		token:       opts.FeedToken,
		issuer:      opts.Issuer,
		keys:        v.keys,
		algs:        v.algs,
		cache:       v.cache,
		leeway:      v.rules.leeway,
		failClosed:  opts.FeedFailClosed,
		idle:        opts.FeedIdleTimeout,
		log:         opts.Logger,
		now:         v.now,
		done:        make(chan struct{}),
		deniedJTI:   map[string]time.Time{},
		deniedGrant: map[string]time.Time{},
	}
	if f.issuer == "" {
		f.issuer = v.rules.issuer
	}
	if f.url == "" {
		if opts.Issuer == "" {
			return errors.New("mcpauth: VerifierOptions: FeedURL is needed without Issuer")
		}
		f.url = strings.TrimSuffix(opts.Issuer, "/") + RevocationFeedPath
	}
	if f.idle <= 0 {
		f.idle = defaultFeedIdleTimeout
	}
	if f.log == nil {
		f.log = slog.Default()
	}
	// The stream is long-lived: the client's Timeout would cut it. Keep
	// the transport, bound each connection by the idle timeout instead.
	f.http = &http.Client{}
	if opts.HTTPClient != nil {
		f.http.Transport = opts.HTTPClient.Transport
	}
	f.since = f.now()
	f.err = errors.New("not connected yet")
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	v.feed = f
	go f.run(ctx)
	return nil
}

// RevocationFeedStatus reports the state of the revocation feed: for a
// health check ("degraded" when enabled and not connected).
func (v *Verifier) RevocationFeedStatus() RevocationFeedStatus {
	f := v.feed
	if f == nil {
		return RevocationFeedStatus{}
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return RevocationFeedStatus{Enabled: true, Connected: f.connected, Since: f.since, LastEventID: f.last, Err: f.err}
}

func (f *feedClient) close() {
	f.cancel()
	<-f.done
}

// check refuses a revoked token, and every token when the feed has been
// down longer than failClosed (when set).
func (f *feedClient) check(g *Grant, now time.Time) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.failClosed > 0 && !f.connected && now.Sub(f.since) > f.failClosed {
		return &UnavailableError{RetryAfter: 5 * time.Second, Err: fmt.Errorf("revocation feed down since %s: %w", f.since.Format(time.RFC3339), f.err)}
	}
	if until, ok := f.deniedJTI[g.TokenID]; ok && g.TokenID != "" && now.Before(until) {
		return invalid("token has been revoked", nil)
	}
	if until, ok := f.deniedGrant[g.GrantID]; ok && g.GrantID != "" && now.Before(until) {
		return invalid("token has been revoked", nil)
	}
	return nil
}

func (f *feedClient) run(ctx context.Context) {
	defer close(f.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		synced, err := f.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		f.mu.Lock()
		if f.connected {
			f.connected, f.since = false, f.now()
		}
		f.err = err
		f.mu.Unlock()
		f.log.Warn("mcpauth: revocation feed disconnected; verifying on signature and expiry until it is back", "url", f.url, "err", err)
		if synced {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// follow reads one connection of the feed until it fails, applying events
// as they come; synced reports whether it caught up at least once.
func (f *feedClient) follow(ctx context.Context) (synced bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	f.mu.RLock()
	if f.last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(f.last, 10))
	}
	f.mu.RUnlock()
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	} else {
		req.SetBasicAuth(f.clientID, f.secret)
	}
	idle := time.AfterFunc(f.idle, cancel)
	defer idle.Stop()
	resp, err := f.http.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			f.log.Error("mcpauth: revocation feed refused this verifier's credentials: the client must be one of the issuer's Introspectors", "url", f.url, "status", resp.Status)
		}
		return false, fmt.Errorf("feed answered %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return false, fmt.Errorf("feed answered %q, not text/event-stream", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	var id, event, data string
	for sc.Scan() {
		idle.Reset(f.idle)
		line := sc.Text()
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				id = value
			case "event":
				event = value
			case "data":
				data += value
			}
			continue
		}
		switch event {
		case "revocation":
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				return synced, fmt.Errorf("feed event id %q: %w", id, err)
			}
			if err := f.apply(ctx, n, data); err != nil {
				return synced, err
			}
		case "reset":
			f.log.Warn("mcpauth: revocation feed: resumed too late for the server's retention; dropping every cached token")
			f.mu.Lock()
			f.last = 0
			f.mu.Unlock()
			if f.cache != nil {
				f.cache.clear()
			}
		case "sync":
			synced = true
			f.mu.Lock()
			if !f.connected {
				f.connected, f.since, f.err = true, f.now(), nil
			}
			f.mu.Unlock()
		}
		id, event, data = "", "", ""
	}
	if err := sc.Err(); err != nil {
		return synced, err
	}
	return synced, errors.New("feed closed the stream")
}

// apply verifies one SET and records its revocation.
func (f *feedClient) apply(ctx context.Context, id int64, set string) error {
	claims, err := f.verifySET(ctx, set)
	if err != nil {
		return fmt.Errorf("feed event %d: %w", id, err)
	}
	now := f.now()
	f.mu.Lock()
	for typ, raw := range claims.Events {
		var body struct {
			JTI     string `json:"jti"`
			GrantID string `json:"grant_id"`
			Exp     int64  `json:"exp"`
		}
		if json.Unmarshal(raw, &body) != nil {
			continue
		}
		until := time.Unix(body.Exp, 0).Add(f.leeway)
		switch {
		case typ == SETEventTokenRevoked && body.JTI != "":
			f.deniedJTI[body.JTI] = until
		case typ == SETEventGrantRevoked && body.GrantID != "":
			f.deniedGrant[body.GrantID] = until
		default:
			continue // an event type we do not know: RFC 8417 §2.2 says ignore it
		}
		if f.cache != nil {
			f.cache.revoke(body.JTI, body.GrantID)
		}
	}
	f.last = id
	if id%256 == 0 {
		for k, until := range f.deniedJTI {
			if !now.Before(until) {
				delete(f.deniedJTI, k)
			}
		}
		for k, until := range f.deniedGrant {
			if !now.Before(until) {
				delete(f.deniedGrant, k)
			}
		}
	}
	f.mu.Unlock()
	return nil
}

type setClaims struct {
	Issuer string                     `json:"iss"`
	Events map[string]json.RawMessage `json:"events"`
}

// verifySET checks a SET's signature against the issuer's JWK Set, its
// typ (RFC 8417 §2.3) and its iss.
func (f *feedClient) verifySET(ctx context.Context, set string) (*setClaims, error) {
	t, err := jwks.Parse(set, f.algs)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(t.Typ, signing.SETType) {
		return nil, fmt.Errorf("typ %q is not %s", t.Typ, signing.SETType)
	}
	cands, _, err := f.keys.Candidates(ctx, t.Kid)
	if err != nil {
		return nil, err
	}
	var payload []byte
	err = errors.New("no key verifies the SET")
	for _, k := range cands {
		if !jwks.Compatible(k, t.Alg) {
			continue
		}
		if payload, err = t.Verify(k); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	var c setClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, err
	}
	if c.Issuer != f.issuer {
		return nil, fmt.Errorf("SET issuer %q", c.Issuer)
	}
	return &c, nil
}

// clear drops every cached token.
func (c *tokenCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}
