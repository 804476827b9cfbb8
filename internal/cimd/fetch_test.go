package cimd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for cache tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// docServer serves a valid document for the URL it is requested at, with
// the given Cache-Control, and counts requests per path.
type docServer struct {
	*httptest.Server
	hits sync.Map // path → *atomic.Int64
}

func (s *docServer) count(path string) int64 {
	v, _ := s.hits.LoadOrStore(path, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

func newDocServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, self string)) *docServer {
	t.Helper()
	ds := &docServer{}
	ds.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := ds.hits.LoadOrStore(r.URL.Path, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		handler(w, r, "https://"+r.Host+r.URL.RequestURI())
	}))
	t.Cleanup(ds.Close)
	return ds
}

func validDoc(self string) string {
	return `{"client_id":"` + self + `","client_name":"Test App","redirect_uris":["http://127.0.0.1:9999/cb"]}`
}

func serveDoc(cacheControl string) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, self string) {
		w.Header().Set("Content-Type", "application/json")
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		fmt.Fprint(w, validDoc(self))
	}
}

// testFetcher trusts srv's certificate and allows loopback, as the root
// package's tests do.
func testFetcher(srv *httptest.Server, clock *fakeClock) *Fetcher {
	opts := Options{AllowLoopback: true, TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}
	if clock != nil {
		opts.Now = clock.Now
	}
	return NewFetcher(opts)
}

func TestFetchValid(t *testing.T) {
	srv := newDocServer(t, func(w http.ResponseWriter, r *http.Request, self string) {
		if r.Header.Get("Accept") != "application/json" {
			t.Errorf("Accept = %q", r.Header.Get("Accept"))
		}
		w.Header().Set("Content-Type", "application/client-metadata+json; charset=utf-8")
		fmt.Fprint(w, validDoc(self))
	})
	f := testFetcher(srv.Server, nil)
	id := srv.URL + "/client.json"
	d, err := f.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if d.ClientID != id || d.Name != "Test App" || d.RedirectURIs[0] != "http://127.0.0.1:9999/cb" {
		t.Fatalf("got %+v", d)
	}
}

func TestFetchRejections(t *testing.T) {
	srv := newDocServer(t, func(w http.ResponseWriter, r *http.Request, self string) {
		switch r.URL.Path {
		case "/big.json":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"client_id":%q,"client_name":"x","redirect_uris":["https://a.example/cb"],"pad":"%s"}`, self, strings.Repeat("a", DefaultMaxBytes))
		case "/big-chunked.json":
			w.Header().Set("Content-Type", "application/json")
			for range DefaultMaxBytes/1024 + 2 {
				fmt.Fprint(w, strings.Repeat(" ", 1024))
				w.(http.Flusher).Flush()
			}
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, validDoc(self))
		case "/no-type":
			w.Header()["Content-Type"] = nil
			fmt.Fprint(w, validDoc(self))
		case "/not-json":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, "hello")
		case "/missing":
			http.NotFound(w, r)
		case "/error":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/redirect":
			http.Redirect(w, r, "/target.json", http.StatusFound)
		case "/permanent":
			http.Redirect(w, r, "/target.json", http.StatusPermanentRedirect)
		case "/target.json":
			serveDoc("")(w, r, self)
		case "/mismatch":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, validDoc("https://other.example/client.json"))
		case "/no-redirects":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"client_id":%q,"client_name":"x"}`, self)
		}
	})
	tests := []struct {
		path string
		kind Kind
		want string
	}{
		{"/big.json", KindFetch, "larger than"},
		{"/big-chunked.json", KindFetch, "larger than"},
		{"/html", KindFetch, "application/json"},
		{"/no-type", KindFetch, "application/json"},
		{"/not-json", KindInvalidDocument, "not a JSON object"},
		{"/missing", KindFetch, "HTTP 404"},
		{"/error", KindFetch, "HTTP 500"},
		{"/redirect", KindFetch, "redirects are not followed"},
		{"/permanent", KindFetch, "redirects are not followed"},
		{"/mismatch", KindInvalidDocument, "does not equal"},
		{"/no-redirects", KindInvalidDocument, "redirect_uris"},
	}
	f := testFetcher(srv.Server, nil)
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, err := f.Get(context.Background(), srv.URL+tt.path)
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.kind || !strings.Contains(e.Description, tt.want) {
				t.Fatalf("Get = %v, want kind %d mentioning %q", err, tt.kind, tt.want)
			}
		})
	}
	if n := srv.count("/target.json"); n != 0 {
		t.Errorf("redirect target fetched %d times; redirects must not be followed", n)
	}
}

func TestFetchDefaultRefusesLoopback(t *testing.T) {
	srv := newDocServer(t, serveDoc(""))
	// Strict defaults, except trusting the test certificate.
	f := NewFetcher(Options{TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()})

	// An IP literal is refused before any connection is attempted.
	_, err := f.Get(context.Background(), srv.URL+"/client.json")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindInvalidURL {
		t.Fatalf("Get(loopback literal) = %v, want KindInvalidURL", err)
	}

	// A hostname that resolves to loopback is refused by the dial hook,
	// which sees the address actually being connected to.
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	_, err = f.Get(context.Background(), "https://localhost:"+port+"/client.json")
	if !errors.As(err, &e) || e.Kind != KindFetch || !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("Get(localhost) = %v, want a KindFetch wrapping ErrForbiddenAddress", err)
	}
	if !strings.Contains(e.Description, "non-public address") {
		t.Errorf("description %q", e.Description)
	}
	if n := srv.count("/client.json"); n != 0 {
		t.Fatalf("the server saw %d requests; the dial hook must refuse before connecting", n)
	}
}

func TestDialControlRejectsBeforeConnecting(t *testing.T) {
	// The Control hook runs after the socket is created and before
	// connect(2), so these fail fast without any network.
	d := &net.Dialer{Timeout: time.Second, Control: dialControl(false)}
	for _, addr := range []string{"127.0.0.1:443", "10.0.0.1:443", "[::1]:443", "169.254.169.254:80", "[fd00::1]:443", "100.64.1.1:443"} {
		t.Run(addr, func(t *testing.T) {
			_, err := d.DialContext(context.Background(), "tcp", addr)
			if err == nil {
				t.Fatal("dial succeeded")
			}
			if !errors.Is(err, ErrForbiddenAddress) {
				if strings.Contains(err.Error(), "address family not supported") {
					t.Skip("no IPv6 sockets here")
				}
				t.Fatalf("dial error %v is not ErrForbiddenAddress", err)
			}
		})
	}
}

func TestAddressAllowed(t *testing.T) {
	tests := []struct {
		addr     string
		allowed  bool
		loopback bool // allowed with AllowLoopback
	}{
		{"8.8.8.8", true, true},
		{"1.1.1.1", true, true},
		{"2606:4700:4700::1111", true, true},
		{"64:ff9b::808:808", true, true}, // NAT64 of 8.8.8.8
		{"127.0.0.1", false, true},
		{"127.1.2.3", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"10.0.0.1", false, false},
		{"172.16.0.1", false, false},
		{"172.31.255.255", false, false},
		{"192.168.1.1", false, false},
		{"100.64.0.1", false, false},
		{"100.127.255.254", false, false},
		{"169.254.169.254", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"255.255.255.255", false, false},
		{"fc00::1", false, false},
		{"fd12:3456::1", false, false},
		{"fe80::1", false, false},
		{"fe80::1%eth0", false, false},
		{"ff02::1", false, false},
		{"::ffff:10.0.0.1", false, false},
		{"64:ff9b::a00:1", false, false}, // NAT64 of 10.0.0.1
		{"2002:a00:1::1", false, false},  // 6to4 of 10.0.0.1
		{"2001:db8::1", false, false},
		{"198.18.0.1", false, false},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.addr)
		if got := AddressAllowed(ip, false); got != tt.allowed {
			t.Errorf("AddressAllowed(%s) = %v, want %v", tt.addr, got, tt.allowed)
		}
		if got := AddressAllowed(ip, true); got != tt.loopback {
			t.Errorf("AddressAllowed(%s, loopback) = %v, want %v", tt.addr, got, tt.loopback)
		}
	}
	ctl := dialControl(false)
	for _, bad := range [][2]string{{"udp", "8.8.8.8:53"}, {"tcp", "not-an-address"}, {"tcp4", "10.0.0.1:443"}} {
		if err := ctl(bad[0], bad[1], nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("control(%s, %s) = %v", bad[0], bad[1], err)
		}
	}
	if err := ctl("tcp6", "[2606:4700:4700::1111]:443", nil); err != nil {
		t.Errorf("control(public v6) = %v", err)
	}
}

func TestFetchCache(t *testing.T) {
	srv := newDocServer(t, func(w http.ResponseWriter, r *http.Request, self string) {
		switch r.URL.Path {
		case "/hour.json":
			serveDoc("public, max-age=3600")(w, r, self)
		case "/nostore.json":
			serveDoc("no-store")(w, r, self)
		case "/short.json":
			serveDoc("max-age=1")(w, r, self)
		case "/forever.json":
			serveDoc("max-age=99999999999")(w, r, self)
		case "/none.json":
			serveDoc("")(w, r, self)
		default:
			http.NotFound(w, r)
		}
	})
	clock := newClock()
	f := testFetcher(srv.Server, clock)
	ctx := context.Background()
	get := func(path string) error {
		_, err := f.Get(ctx, srv.URL+path)
		return err
	}
	steps := []struct {
		advance time.Duration
		path    string
		hits    int64
		fails   bool
	}{
		{0, "/hour.json", 1, false},
		{30 * time.Minute, "/hour.json", 1, false}, // within max-age: cached
		{31 * time.Minute, "/hour.json", 2, false}, // expired: refetched
		{0, "/nostore.json", 1, false},
		{0, "/nostore.json", 2, false}, // no-store: every time
		{0, "/short.json", 1, false},
		{30 * time.Second, "/short.json", 1, false}, // max-age=1 raised to the 1 min floor
		{31 * time.Second, "/short.json", 2, false},
		{0, "/forever.json", 1, false},
		{23 * time.Hour, "/forever.json", 1, false},
		{2 * time.Hour, "/forever.json", 2, false}, // clamped to the 24 h ceiling
		{0, "/none.json", 1, false},
		{4 * time.Minute, "/none.json", 1, false}, // default 5 min
		{2 * time.Minute, "/none.json", 2, false},
		{0, "/missing.json", 1, true},
		{10 * time.Second, "/missing.json", 1, true}, // negative cache
		{21 * time.Second, "/missing.json", 2, true}, // after 30 s: retried
	}
	for i, st := range steps {
		clock.Add(st.advance)
		err := get(st.path)
		if (err != nil) != st.fails {
			t.Fatalf("step %d %s: err = %v", i, st.path, err)
		}
		if got := srv.count(st.path); got != st.hits {
			t.Fatalf("step %d %s: %d fetches, want %d", i, st.path, got, st.hits)
		}
	}
}

func TestFetchCacheBounded(t *testing.T) {
	srv := newDocServer(t, serveDoc("max-age=600"))
	f := NewFetcher(Options{AllowLoopback: true, MaxEntries: 3, TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()})
	for i := range 10 {
		if _, err := f.Get(context.Background(), fmt.Sprintf("%s/c%d.json", srv.URL, i)); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	n := len(f.cache)
	f.mu.Unlock()
	if n > 3 {
		t.Fatalf("cache holds %d entries, want at most 3", n)
	}
}

func TestFetchCoalesces(t *testing.T) {
	release := make(chan struct{})
	srv := newDocServer(t, func(w http.ResponseWriter, r *http.Request, self string) {
		<-release
		serveDoc("max-age=600")(w, r, self)
	})
	f := testFetcher(srv.Server, nil)
	id := srv.URL + "/client.json"
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := f.Get(context.Background(), id)
			errs <- err
		})
	}
	// Wait until the one request is in flight, give the others time to
	// join it, then let it finish; latecomers hit the cache.
	for srv.count("/client.json") == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.count("/client.json"); got != 1 {
		t.Fatalf("%d fetches for %d concurrent callers", got, n)
	}
}

func TestFetchCallerCancelDoesNotAbortSharedFetch(t *testing.T) {
	release := make(chan struct{})
	srv := newDocServer(t, func(w http.ResponseWriter, r *http.Request, self string) {
		<-release
		serveDoc("max-age=600")(w, r, self)
	})
	f := testFetcher(srv.Server, nil)
	id := srv.URL + "/client.json"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.Get(ctx, id)
		done <- err
	}()
	for srv.count("/client.json") == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Get = %v, want context.Canceled", err)
	}
	close(release)
	if _, err := f.Get(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if got := srv.count("/client.json"); got != 1 {
		t.Fatalf("%d fetches, want 1 (the cancelled caller's fetch completed and was cached)", got)
	}
}

func TestFetchTimeout(t *testing.T) {
	// The handler answers nothing until the test ends, whatever happens to
	// its request context, so only the fetcher's own timeout can end Get.
	release := make(chan struct{})
	srv := newDocServer(t, func(w http.ResponseWriter, r *http.Request, self string) { <-release })
	defer close(release)
	f := NewFetcher(Options{AllowLoopback: true, Timeout: 100 * time.Millisecond, TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()})
	start := time.Now()
	_, err := f.Get(context.Background(), srv.URL+"/slow.json")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindFetch || e.Description != "could not fetch the client metadata document" {
		t.Fatalf("Get = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

func TestTTLParsing(t *testing.T) {
	f := NewFetcher(Options{})
	tests := []struct {
		headers []string
		want    time.Duration
	}{
		{nil, DefaultTTL},
		{[]string{"max-age=600"}, 10 * time.Minute},
		{[]string{"public", "max-age=\"600\""}, 10 * time.Minute},
		{[]string{"max-age=0"}, DefaultMinTTL},
		{[]string{"max-age=600, s-maxage=120"}, 2 * time.Minute},
		{[]string{"no-store"}, 0},
		{[]string{"max-age=600, No-Cache"}, 0},
		{[]string{"max-age=-5"}, DefaultTTL},
		{[]string{"max-age=abc"}, DefaultTTL},
		{[]string{"max-age=999999999999999999999"}, DefaultMaxTTL},
	}
	for _, tt := range tests {
		if got := f.ttl(tt.headers); got != tt.want {
			t.Errorf("ttl(%q) = %v, want %v", tt.headers, got, tt.want)
		}
	}
}
