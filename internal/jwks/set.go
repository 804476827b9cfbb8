package jwks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for [Options].
const (
	DefaultMinInterval  = 30 * time.Second
	DefaultMaxInterval  = 24 * time.Hour
	DefaultTTL          = 5 * time.Minute
	DefaultFetchTimeout = 10 * time.Second
	DefaultMaxBodyBytes = 1 << 20
)

// ErrUnavailable means no keys are known yet: the set has never been
// fetched successfully (or the last good set was empty). See [UnavailableError].
var ErrUnavailable = errors.New("jwks: signing keys unavailable")

// UnavailableError is returned while no keys are known. It matches
// [ErrUnavailable] with errors.Is.
type UnavailableError struct {
	// RetryAfter is when the next fetch may be attempted.
	RetryAfter time.Duration
	// Err is the last fetch error, if any.
	Err error
}

func (e *UnavailableError) Error() string {
	if e.Err != nil {
		return "jwks: signing keys unavailable: " + e.Err.Error()
	}
	return "jwks: signing keys unavailable"
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the last fetch error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Options configure a [Set]. URL or Issuer is required.
type Options struct {
	// URL is the JWK Set URL. When empty it is discovered from Issuer.
	URL string
	// Issuer is the authorization server's issuer. With URL empty, its RFC
	// 8414 metadata (/.well-known/oauth-authorization-server, path-inserted
	// per §3.1) gives jwks_uri; the metadata issuer must equal Issuer. When
	// the metadata is absent (404) or has no jwks_uri, {Issuer}/.well-known/jwks.json is used.
	Issuer string
	// Client makes the requests. Default: a client with FetchTimeout.
	Client *http.Client
	// MinInterval is the least time between two fetches caused by unknown
	// key ids, the floor for Cache-Control max-age, the TTL under no-store or
	// no-cache, and the retry interval after a failure while keys are
	// known. Default [DefaultMinInterval].
	MinInterval time.Duration
	// MaxInterval caps Cache-Control max-age. Default [DefaultMaxInterval].
	MaxInterval time.Duration
	// TTL applies when the response has no Cache-Control max-age. Default [DefaultTTL].
	TTL time.Duration
	// FetchTimeout bounds one fetch (discovery plus set). Default [DefaultFetchTimeout].
	FetchTimeout time.Duration
	// MaxBodyBytes limits a response body. Default [DefaultMaxBodyBytes].
	MaxBodyBytes int64
	// Logger receives fetch failures. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OnFetch, when set, is called after every fetch with its error (nil on
	// success), for metrics. It must not block.
	OnFetch func(err error)
}

// Set is a remote JWK Set, fetched lazily and kept fresh:
//
//   - One fetch at a time: concurrent callers that need keys wait for the
//     same fetch. The fetch runs on the Set's own context with its own
//     timeout, so a caller that gives up stops waiting but does not cancel it.
//   - Known keys are served without waiting; once the TTL (Cache-Control
//     max-age, clamped to [MinInterval, MaxInterval]) has passed, a
//     background refresh starts.
//   - An unknown key id triggers a refetch at most once per MinInterval,
//     however many requests carry unknown ids.
//   - A failed fetch keeps the last good keys. With no keys at all, callers
//     get an [*UnavailableError]; retries back off from 1 s to MinInterval.
//
// A Set is safe for concurrent use. Close stops an in-flight fetch.
type Set struct {
	opts   Options
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	ctx    context.Context
	cancel context.CancelFunc

	cur     atomic.Pointer[snapshot]
	fetches atomic.Int64

	mu          sync.Mutex
	inflight    *fetchCall
	lastAttempt time.Time // start of the latest fetch
	retryAt     time.Time // earliest next attempt after a failure
	failures    int
	lastErr     error
	jwksURL     string // resolved URL (discovery result)
}

type snapshot struct {
	set     *KeySet
	expires time.Time
}

type fetchCall struct {
	done chan struct{}
}

// New returns a Set. It does no I/O; the first [Set.Candidates] fetches.
func New(opts Options) (*Set, error) {
	if opts.URL == "" && opts.Issuer == "" {
		return nil, errors.New("jwks: URL or Issuer is required")
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = DefaultMinInterval
	}
	if opts.MaxInterval <= 0 {
		opts.MaxInterval = DefaultMaxInterval
	}
	if opts.MaxInterval < opts.MinInterval {
		opts.MaxInterval = opts.MinInterval
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = DefaultFetchTimeout
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s := &Set{opts: opts, client: opts.Client, log: opts.Logger, now: opts.Now, jwksURL: opts.URL}
	if s.client == nil {
		s.client = &http.Client{Timeout: opts.FetchTimeout}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close cancels any in-flight fetch. Later lookups use the keys already held.
func (s *Set) Close() { s.cancel() }

// Fetches reports how many fetches have started (for tests and metrics).
func (s *Set) Fetches() int64 { return s.fetches.Load() }

// Keys returns the currently held set, which may be nil.
func (s *Set) Keys() *KeySet {
	if c := s.cur.Load(); c != nil {
		return c.set
	}
	return nil
}

// Candidates returns the keys to try for a token whose header names kid.
// exact reports that they carry that kid. When no key has it (after any
// refetch the rate limit allows), Candidates returns every held key with
// exact false, so an issuer that relabels a key (Grantex's monthly kid)
// still verifies; the caller filters them by algorithm. With no keys at all
// it returns an [*UnavailableError]. If ctx ends while waiting for a fetch,
// ctx.Err() is returned and the fetch goes on.
func (s *Set) Candidates(ctx context.Context, kid string) (keys []Key, exact bool, err error) {
	now := s.now()
	cur := s.cur.Load()
	if cur != nil {
		if ks := cur.set.Lookup(kid); len(ks) > 0 {
			if !now.Before(cur.expires) {
				s.start(now, reasonExpired)
			}
			return ks, true, nil
		}
	}
	reason := reasonUnknownKid
	if cur == nil || cur.set.Len() == 0 {
		reason = reasonNoKeys
	}
	if call := s.start(now, reason); call != nil {
		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	cur = s.cur.Load()
	if cur == nil || cur.set.Len() == 0 {
		s.mu.Lock()
		retry, lastErr := s.retryAt.Sub(s.now()), s.lastErr
		s.mu.Unlock()
		return nil, false, &UnavailableError{RetryAfter: max(retry, time.Second), Err: lastErr}
	}
	if ks := cur.set.Lookup(kid); len(ks) > 0 {
		return ks, true, nil
	}
	return cur.set.Keys(), false, nil
}

type fetchReason int

const (
	reasonNoKeys fetchReason = iota
	reasonUnknownKid
	reasonExpired
)

// start returns the in-flight fetch, starting one if reason allows it now,
// or nil when no fetch runs.
func (s *Set) start(now time.Time, reason fetchReason) *fetchCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		if reason == reasonExpired {
			return nil // never wait for a background refresh
		}
		return s.inflight
	}
	if s.ctx.Err() != nil || now.Before(s.retryAt) {
		return nil
	}
	switch reason {
	case reasonUnknownKid:
		if !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.opts.MinInterval {
			return nil
		}
	case reasonExpired:
		if cur := s.cur.Load(); cur != nil && now.Before(cur.expires) {
			return nil
		}
	}
	s.lastAttempt = now
	call := &fetchCall{done: make(chan struct{})}
	s.inflight = call
	s.fetches.Add(1)
	go s.run(call)
	return call
}

func (s *Set) run(call *fetchCall) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.FetchTimeout)
	defer cancel()
	set, ttl, url, err := s.fetch(ctx)
	now := s.now()

	s.mu.Lock()
	if err == nil {
		s.cur.Store(&snapshot{set: set, expires: now.Add(ttl)})
		s.failures, s.lastErr, s.retryAt = 0, nil, time.Time{}
		s.jwksURL = url
		if set.Len() == 0 {
			s.lastErr = errors.New("the JWK Set has no usable signature keys")
			s.retryAt = now.Add(s.opts.MinInterval)
		}
	} else {
		s.failures++
		s.lastErr = err
		backoff := s.opts.MinInterval
		if s.cur.Load() == nil {
			backoff = min(s.opts.MinInterval, time.Second<<min(s.failures-1, 16))
		}
		s.retryAt = now.Add(backoff)
		if cur := s.cur.Load(); cur != nil {
			// Keep serving the last good keys without re-attempting (or
			// locking) on every request until the retry time.
			s.cur.Store(&snapshot{set: cur.set, expires: s.retryAt})
		}
		if s.opts.URL == "" {
			s.jwksURL = "" // discover again next time
		}
	}
	s.inflight = nil
	s.mu.Unlock()
	// Counted before the waiters wake, so a caller that saw the keys also
	// sees the fetch in the metrics.
	if s.opts.OnFetch != nil {
		s.opts.OnFetch(err)
	}
	close(call.done)

	if err != nil {
		s.log.Warn("jwks: fetch failed; keeping the last good keys", "url", url, "err", err)
	} else if set.Skipped > 0 {
		s.log.Debug("jwks: skipped unusable keys", "url", url, "skipped", set.Skipped)
	}
}

func (s *Set) fetch(ctx context.Context) (*KeySet, time.Duration, string, error) {
	s.mu.Lock()
	url := s.jwksURL
	s.mu.Unlock()
	if url == "" {
		var err error
		if url, err = s.discover(ctx); err != nil {
			return nil, 0, "", err
		}
	}
	body, hdr, err := s.get(ctx, url, "application/jwk-set+json, application/json")
	if err != nil {
		return nil, 0, url, err
	}
	set, err := ParseSet(body)
	if err != nil {
		return nil, 0, url, err
	}
	return set, s.ttl(hdr), url, nil
}

// errNotFound marks a 404, which discovery treats as "no metadata".
var errNotFound = errors.New("not found")

func (s *Set) get(ctx context.Context, url, accept string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		if resp.StatusCode == http.StatusNotFound {
			return nil, nil, fmt.Errorf("GET %s: %w", url, errNotFound)
		}
		return nil, nil, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.opts.MaxBodyBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(body)) > s.opts.MaxBodyBytes {
		return nil, nil, fmt.Errorf("GET %s: body exceeds %d bytes", url, s.opts.MaxBodyBytes)
	}
	return body, resp.Header, nil
}

// ttl reads Cache-Control (RFC 9111 §5.2.2): max-age clamped to
// [MinInterval, MaxInterval]; no-store or no-cache give MinInterval; no
// max-age gives TTL.
func (s *Set) ttl(h http.Header) time.Duration {
	ttl := s.opts.TTL
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return s.opts.MinInterval
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
				if err == nil && n >= 0 {
					ttl = time.Duration(min(n, int64(s.opts.MaxInterval/time.Second)+1)) * time.Second
				}
			}
		}
	}
	return min(max(ttl, s.opts.MinInterval), s.opts.MaxInterval)
}
