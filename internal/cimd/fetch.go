package cimd

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for [Options].
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMaxBytes    = 64 << 10
	DefaultMinTTL      = time.Minute
	DefaultMaxTTL      = 24 * time.Hour
	DefaultTTL         = 5 * time.Minute
	DefaultNegativeTTL = 30 * time.Second
	DefaultMaxEntries  = 1000
)

// Options configure a [Fetcher]. The zero value is the strict production
// configuration.
type Options struct {
	// Timeout bounds one fetch: connect, TLS, headers and body. Default 5 s.
	Timeout time.Duration
	// MaxBytes bounds the document size. Default 64 KiB. (The draft's §6
	// suggests a small limit; 5 KB has proven too small for real clients.)
	MaxBytes int64
	// MinTTL and MaxTTL clamp the Cache-Control max-age of a document.
	// Defaults 1 min and 24 h. DefaultTTL applies without max-age (5 min).
	MinTTL, MaxTTL, DefaultTTL time.Duration
	// NegativeTTL is how long a failed fetch or an invalid document is
	// remembered, so a bad client_id cannot make us fetch on every request.
	// Default 30 s.
	NegativeTTL time.Duration
	// MaxEntries bounds the cache. Default 1000.
	MaxEntries int
	// ValidateRedirectURI is passed to [Parse].
	ValidateRedirectURI func(string) error
	// Logger receives fetch diagnostics at debug level. Default: discarded.
	Logger *slog.Logger
	// Now is the clock for the cache. Default time.Now.
	Now func() time.Time

	// AllowLoopback lets the fetcher connect to loopback addresses. For
	// tests against httptest servers only; private, link-local and other
	// non-public addresses stay refused.
	AllowLoopback bool
	// TLSConfig overrides the TLS client configuration (tests: trusting an
	// httptest certificate). Nil means the system roots, TLS 1.2 or later.
	TLSConfig *tls.Config
}

// Fetcher retrieves client ID metadata documents over https with SSRF
// protection (draft-ietf-oauth-client-id-metadata-document-00 §4, §6):
// every dialled address is checked after DNS resolution, redirects are
// never followed, the response must be 200 with a JSON content type and is
// size-limited. Results are cached per URL honouring Cache-Control (§4.3),
// failures are cached briefly, and concurrent fetches of one URL share a
// single request. Safe for concurrent use.
type Fetcher struct {
	opts   Options
	client *http.Client

	mu       sync.Mutex
	cache    map[string]entry
	inflight map[string]*call
}

type entry struct {
	doc     *Document
	err     error
	expires time.Time
}

type call struct {
	done chan struct{}
	doc  *Document
	err  error
}

// NewFetcher returns a Fetcher; zero fields of opts take the defaults.
func NewFetcher(opts Options) *Fetcher {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.Timeout, DefaultTimeout)
	def(&opts.MinTTL, DefaultMinTTL)
	def(&opts.MaxTTL, DefaultMaxTTL)
	def(&opts.DefaultTTL, DefaultTTL)
	def(&opts.NegativeTTL, DefaultNegativeTTL)
	if opts.MaxTTL < opts.MinTTL {
		opts.MaxTTL = opts.MinTTL
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tlsConf := opts.TLSConfig
	if tlsConf == nil {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	dialer := &net.Dialer{
		Timeout:   opts.Timeout,
		KeepAlive: 30 * time.Second,
		Control:   dialControl(opts.AllowLoopback),
	}
	transport := &http.Transport{
		Proxy:                  nil, // an environment proxy would bypass the address check
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConf,
		TLSHandshakeTimeout:    opts.Timeout,
		ResponseHeaderTimeout:  opts.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
	}
	return &Fetcher{
		opts: opts,
		client: &http.Client{
			Transport: transport,
			Timeout:   opts.Timeout,
			// §4: the authorization server MUST NOT follow redirects.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		cache:    map[string]entry{},
		inflight: map[string]*call{},
	}
}

// Get returns the validated document for clientID, from the cache when
// fresh. Errors are *[Error] (or ctx's error when ctx ends first).
func (f *Fetcher) Get(ctx context.Context, clientID string) (*Document, error) {
	if _, err := validateURL(clientID, f.opts.AllowLoopback); err != nil {
		return nil, err
	}
	f.mu.Lock()
	if e, ok := f.cache[clientID]; ok {
		if f.opts.Now().Before(e.expires) {
			f.mu.Unlock()
			return e.doc, e.err
		}
		delete(f.cache, clientID)
	}
	c, ok := f.inflight[clientID]
	if !ok {
		c = &call{done: make(chan struct{})}
		f.inflight[clientID] = c
		// The shared fetch outlives any one caller; its own timeout bounds it.
		go f.run(context.WithoutCancel(ctx), clientID, c)
	}
	f.mu.Unlock()
	select {
	case <-c.done:
		return c.doc, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run performs the single shared fetch for clientID and records the result.
func (f *Fetcher) run(ctx context.Context, clientID string, c *call) {
	doc, ttl, err := f.fetch(ctx, clientID)
	if err != nil {
		ttl = f.opts.NegativeTTL
		f.opts.Logger.DebugContext(ctx, "cimd: client metadata document rejected", "client_id", clientID, "err", err)
	} else {
		f.opts.Logger.DebugContext(ctx, "cimd: fetched client metadata document", "client_id", clientID, "ttl", ttl)
	}
	c.doc, c.err = doc, err
	f.mu.Lock()
	delete(f.inflight, clientID)
	if ttl > 0 {
		f.store(clientID, entry{doc: doc, err: err, expires: f.opts.Now().Add(ttl)})
	}
	f.mu.Unlock()
	close(c.done)
}

// store adds e, evicting expired entries and then the soonest-expiring one
// when the cache is full. f.mu is held.
func (f *Fetcher) store(key string, e entry) {
	if _, ok := f.cache[key]; !ok && len(f.cache) >= f.opts.MaxEntries {
		now := f.opts.Now()
		for k, old := range f.cache {
			if !now.Before(old.expires) {
				delete(f.cache, k)
			}
		}
		for len(f.cache) >= f.opts.MaxEntries {
			var victim string
			var first time.Time
			for k, old := range f.cache {
				if victim == "" || old.expires.Before(first) {
					victim, first = k, old.expires
				}
			}
			delete(f.cache, victim)
		}
	}
	f.cache[key] = e
}

// fetch GETs and validates one document, returning how long to cache it.
func (f *Fetcher) fetch(ctx context.Context, clientID string) (*Document, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientID, nil)
	if err != nil {
		return nil, 0, invalidURL("the client_id is not a valid URL")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mcpauth-cimd/1")
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrForbiddenAddress) {
			return nil, 0, fetchErr(err, "could not fetch the client metadata document: its host resolves to a non-public address")
		}
		return nil, 0, fetchErr(err, "could not fetch the client metadata document")
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, 0, fetchErr(nil, "could not fetch the client metadata document: HTTP %d redirect (redirects are not followed)", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, 0, fetchErr(nil, "could not fetch the client metadata document: HTTP %d", resp.StatusCode)
	}
	if !jsonContentType(resp.Header.Get("Content-Type")) {
		return nil, 0, fetchErr(nil, "the client metadata document must be served as application/json")
	}
	if resp.ContentLength > f.opts.MaxBytes {
		return nil, 0, fetchErr(nil, "the client metadata document is larger than %d bytes", f.opts.MaxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxBytes+1))
	if err != nil {
		return nil, 0, fetchErr(err, "could not fetch the client metadata document")
	}
	if int64(len(body)) > f.opts.MaxBytes {
		return nil, 0, fetchErr(nil, "the client metadata document is larger than %d bytes", f.opts.MaxBytes)
	}
	doc, err := Parse(clientID, body, ParseOptions{ValidateRedirectURI: f.opts.ValidateRedirectURI})
	if err != nil {
		return nil, 0, err
	}
	return doc, f.ttl(resp.Header.Values("Cache-Control")), nil
}

// jsonContentType accepts application/json and application/<x>+json (§4).
func jsonContentType(v string) bool {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// ttl reads Cache-Control (RFC 9111 §5.2.2): no-store and no-cache mean do
// not keep it (we do not revalidate); s-maxage, as a cache shared by many
// users, wins over max-age; the result is clamped to [MinTTL, MaxTTL].
func (f *Fetcher) ttl(headers []string) time.Duration {
	maxAge, sMaxAge := -1, -1
	for _, h := range headers {
		for _, d := range strings.Split(h, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			val = strings.Trim(strings.TrimSpace(val), `"`)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				maxAge = parseSeconds(val)
			case "s-maxage":
				sMaxAge = parseSeconds(val)
			}
		}
	}
	var d time.Duration
	switch {
	case sMaxAge >= 0:
		d = time.Duration(sMaxAge) * time.Second
	case maxAge >= 0:
		d = time.Duration(maxAge) * time.Second
	default:
		d = f.opts.DefaultTTL
	}
	return min(max(d, f.opts.MinTTL), f.opts.MaxTTL)
}

// parseSeconds parses a delta-seconds value; -1 if invalid. Large values
// saturate (RFC 9111 §1.2.2).
func parseSeconds(s string) int {
	if s == "" {
		return -1
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 1<<31-1 {
		return 1<<31 - 1
	}
	return n
}
