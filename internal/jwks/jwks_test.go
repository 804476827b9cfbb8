package jwks

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type testKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

func genKey(t testing.TB, alg, kid string) testKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, alg: alg, priv: priv}
}

func (k testKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"}
}

func setJSON(t testing.TB, keys ...testKey) []byte {
	t.Helper()
	var s jose.JSONWebKeySet
	for _, k := range keys {
		s.Keys = append(s.Keys, k.jwk())
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(t testing.TB, k testKey, payload string) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", k.kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.alg), Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestParseSet(t *testing.T) {
	rsaKey := genKey(t, "RS256", "r1")
	ecKey := genKey(t, "ES256", "e1")
	edKey := genKey(t, "EdDSA", "d1")
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallJWK, _ := json.Marshal(jose.JSONWebKey{Key: &small.PublicKey, KeyID: "small"})
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: ecKey.priv, KeyID: "priv"})
	good := func(k testKey) string { b, _ := json.Marshal(k.jwk()); return string(b) }

	tests := []struct {
		name    string
		doc     string
		want    []string // kids
		skipped int
		wantErr bool
	}{
		{"three types", `{"keys":[` + good(rsaKey) + `,` + good(ecKey) + `,` + good(edKey) + `]}`, []string{"r1", "e1", "d1"}, 0, false},
		{"empty keys", `{"keys":[]}`, nil, 0, false},
		{"oct skipped", `{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0","kid":"h"}]}`, nil, 1, false},
		{"enc use skipped", `{"keys":[` + strings.Replace(good(rsaKey), `"use":"sig"`, `"use":"enc"`, 1) + `]}`, nil, 1, false},
		{"unknown kty skipped", `{"keys":[{"kty":"XYZ","kid":"x"},` + good(edKey) + `]}`, []string{"d1"}, 1, false},
		{"1024-bit RSA skipped", `{"keys":[` + string(smallJWK) + `]}`, nil, 1, false},
		{"alg mismatching key skipped", `{"keys":[` + strings.Replace(good(ecKey), `"alg":"ES256"`, `"alg":"RS256"`, 1) + `]}`, nil, 1, false},
		{"private key keeps public half", `{"keys":[` + string(privJWK) + `]}`, []string{"priv"}, 0, false},
		{"garbage member skipped", `{"keys":[1,"x",null,{}]}`, nil, 4, false},
		{"not json", `nope`, nil, 0, true},
		{"no keys member", `{"k":[]}`, nil, 0, true},
		{"keys not array", `{"keys":{}}`, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := ParseSet([]byte(tt.doc))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformedSet) {
					t.Fatalf("err = %v, want ErrMalformedSet", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range ks.Keys() {
				got = append(got, k.ID)
				if _, isPriv := k.Public.(*ecdsa.PrivateKey); isPriv {
					t.Errorf("key %s kept private material", k.ID)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || ks.Skipped != tt.skipped {
				t.Errorf("got (%v, skipped %d), want (%v, skipped %d)", got, ks.Skipped, tt.want, tt.skipped)
			}
		})
	}
}

// allAlgs is every algorithm Parse is asked to accept in these tests.
var allAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

func TestParse(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	p := enc(`{"sub":"x"}`)
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"ok", enc(`{"alg":"ES256","kid":"k","typ":"at+jwt"}`) + "." + p + ".c2ln", nil},
		{"two parts", enc(`{"alg":"ES256"}`) + "." + p, ErrMalformed},
		{"JWE five parts", enc(`{"alg":"RSA-OAEP"}`) + ".a.b.c.d", ErrMalformed},
		{"four parts", enc(`{"alg":"ES256"}`) + "." + p + ".c2ln.x", ErrMalformed},
		{"empty signature", enc(`{"alg":"ES256"}`) + "." + p + ".", ErrMalformed},
		{"empty payload", enc(`{"alg":"ES256"}`) + ".." + "c2ln", ErrMalformed},
		{"empty header", "." + p + ".c2ln", ErrMalformed},
		{"padded", enc(`{"alg":"ES256"}`) + "==." + p + ".c2ln", ErrMalformed},
		{"std alphabet", enc(`{"alg":"ES256"}`) + "." + p + ".c2l+", ErrMalformed},
		{"stray bits", enc(`{"alg":"ES256"}`) + "." + p + ".c2l", ErrMalformed}, // "c2k" is "si"; "c2l" sets a bit beyond it
		{"impossible length", enc(`{"alg":"ES256"}`) + "." + p + ".c2lnA", ErrMalformed},
		{"line break", enc(`{"alg":"ES256"}`) + "." + p[:4] + "\r\n" + p[4:] + ".c2ln", ErrMalformed},
		{"space", " " + enc(`{"alg":"ES256"}`) + "." + p + ".c2ln", ErrMalformed},
		{"JSON serialization", `{"payload":"` + p + `","protected":"` + enc(`{"alg":"ES256"}`) + `","signature":"c2ln"}`, ErrMalformed},
		{"header not object", enc(`["alg"]`) + "." + p + ".c2ln", ErrMalformed},
		{"header null", enc(`null`) + "." + p + ".c2ln", ErrMalformed},
		{"header not json", enc(`{alg`) + "." + p + ".c2ln", ErrMalformed},
		{"kid not string", enc(`{"alg":"ES256","kid":7}`) + "." + p + ".c2ln", ErrMalformed},
		{"typ not string", enc(`{"alg":"ES256","kid":"k","typ":["at+jwt"]}`) + "." + p + ".c2ln", ErrMalformed},
		{"no alg", enc(`{"kid":"k"}`) + "." + p + ".c2ln", ErrAlgorithm},
		{"alg not string", enc(`{"alg":1}`) + "." + p + ".c2ln", ErrAlgorithm},
		{"alg none", enc(`{"alg":"none"}`) + "." + p + ".c2ln", ErrAlgorithm},
		{"alg HS256", enc(`{"alg":"HS256"}`) + "." + p + ".c2ln", ErrAlgorithm},
		{"alg not allowed", enc(`{"alg":"ES384"}`) + "." + p + ".c2ln", ErrAlgorithm},
		{"crit", enc(`{"alg":"ES256","crit":["exp"],"exp":1}`) + "." + p + ".c2ln", ErrUnsupported},
		// go-jose itself understands b64: refused here all the same.
		{"crit b64", enc(`{"alg":"ES256","crit":["b64"],"b64":false}`) + "." + p + ".c2ln", ErrUnsupported},
		{"b64 false", enc(`{"alg":"ES256","b64":false}`) + "." + p + ".c2ln", ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse(tt.token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && (tok.Alg != "ES256" || tok.Kid != "k" || tok.Typ != "at+jwt") {
				t.Errorf("got %+v", tok)
			}
		})
	}
}

// resign replaces a token's signature segment with sig.
func resign(token string, sig []byte) string {
	return token[:strings.LastIndexByte(token, '.')+1] + base64.RawURLEncoding.EncodeToString(sig)
}

func TestVerify(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			k := genKey(t, string(alg), "k")
			tok := sign(t, k, `{"sub":"alice"}`)
			parsed, err := Parse(tok, allAlgs)
			if err != nil {
				t.Fatal(err)
			}
			pub := Key{ID: "k", Public: k.priv.Public()}
			payload, err := parsed.Verify(pub)
			if err != nil || string(payload) != `{"sub":"alice"}` {
				t.Fatalf("valid signature: %q, %v", payload, err)
			}
			sig, _ := base64.RawURLEncoding.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
			for name, bad := range map[string]string{
				"tampered payload":    tamperPart(tok, 1),
				"truncated signature": resign(tok, sig[:len(sig)-1]),
				"flipped signature":   resign(tok, append(sig[:len(sig)-1:len(sig)-1], sig[len(sig)-1]^1)),
				"other key":           sign(t, genKey(t, string(alg), "k"), `{"sub":"alice"}`),
			} {
				p, err := Parse(bad, allAlgs)
				if err != nil {
					t.Fatalf("%s: Parse: %v", name, err)
				}
				if _, err := p.Verify(pub); !errors.Is(err, ErrSignature) {
					t.Errorf("%s: err = %v, want ErrSignature", name, err)
				}
			}
			// The key's declared alg must match.
			declared := pub
			declared.Algorithm = "none"
			if _, err := parsed.Verify(declared); !errors.Is(err, ErrKeyMismatch) {
				t.Errorf("declared alg mismatch: err = %v, want ErrKeyMismatch", err)
			}
		})
	}
	// A key of another type never verifies, whatever the header says.
	ec := genKey(t, "ES256", "e")
	rs := genKey(t, "RS256", "r")
	p, err := Parse(sign(t, rs, `{}`), allAlgs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(Key{Public: ec.priv.Public()}); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("EC key for RS256: err = %v, want ErrKeyMismatch", err)
	}
	// An ES256 signature does not verify with a P-384 key (the curve is the algorithm).
	p, err = Parse(sign(t, ec, `{}`), allAlgs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(Key{Public: genKey(t, "ES384", "x").priv.Public()}); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("P-384 key for ES256: err = %v, want ErrKeyMismatch", err)
	}
	// RSA keys under MinRSABits are never used, even when handed over directly.
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallTok := sign(t, testKey{kid: "s", alg: "RS256", priv: small}, `{}`)
	if p, err = Parse(smallTok, allAlgs); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(Key{Public: &small.PublicKey}); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("1024-bit RSA key: err = %v, want ErrKeyMismatch", err)
	}
	for _, alg := range []string{"HS256", "none", "", "ES256K", "RSA-OAEP"} {
		if Supported(alg) {
			t.Errorf("Supported(%q) = true", alg)
		}
		if Compatible(Key{Public: rs.priv.Public()}, alg) || Compatible(Key{Public: ec.priv.Public()}, alg) {
			t.Errorf("Compatible(_, %q) = true", alg)
		}
	}
}

// tamperPart flips one character of part i (0 header, 1 payload, 2 signature)
// to another that keeps the segment canonical base64url.
func tamperPart(token string, i int) string {
	parts := strings.Split(token, ".")
	p := []byte(parts[i])
	j := len(p) / 2
	if p[j] == 'A' {
		p[j] = 'B'
	} else {
		p[j] = 'A'
	}
	parts[i] = string(p)
	return strings.Join(parts, ".")
}

// jwksServer serves a JWK Set that tests can swap, fail or block.
type jwksServer struct {
	*httptest.Server
	mu       sync.Mutex
	body     []byte
	status   int
	cacheCtl string
	hits     atomic.Int64
	block    chan struct{} // when non-nil, requests wait for it to close
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	s := &jwksServer{body: body, status: 200}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status, cc, block := s.body, s.status, s.cacheCtl, s.block
		s.mu.Unlock()
		if block != nil {
			<-block
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte, status int) {
	s.mu.Lock()
	s.body, s.status = body, status
	s.mu.Unlock()
}

func newSet(t testing.TB, url string, clk *clock) *Set {
	t.Helper()
	s, err := New(Options{URL: url, Logger: quiet, Now: clk.Now, MinInterval: 30 * time.Second, TTL: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestSetRotation(t *testing.T) {
	a, b := genKey(t, "ES256", "a"), genKey(t, "ES256", "b")
	srv := newJWKSServer(t, setJSON(t, a))
	clk := newClock()
	s := newSet(t, srv.URL, clk)
	ctx := context.Background()

	if ks, exact, err := s.Candidates(ctx, "a"); err != nil || !exact || len(ks) != 1 {
		t.Fatalf("Candidates(a) = %v, %v, %v", ks, exact, err)
	}
	// The AS rotates: b is published. Within MinInterval an unknown kid
	// does not refetch; after it, it does, and b is found.
	srv.set(setJSON(t, a, b), 200)
	if _, exact, err := s.Candidates(ctx, "b"); err != nil || exact {
		t.Fatalf("Candidates(b) within the interval: exact=%v err=%v, want inexact", exact, err)
	}
	if got := s.Fetches(); got != 1 {
		t.Fatalf("fetches = %d, want 1", got)
	}
	clk.Advance(31 * time.Second)
	if ks, exact, err := s.Candidates(ctx, "b"); err != nil || !exact || ks[0].ID != "b" {
		t.Fatalf("Candidates(b) after the interval = %v, %v, %v", ks, exact, err)
	}
	if got := s.Fetches(); got != 2 {
		t.Fatalf("fetches = %d, want 2", got)
	}
}

func TestSetTTLRefresh(t *testing.T) {
	a, b := genKey(t, "ES256", "a"), genKey(t, "ES256", "b")
	srv := newJWKSServer(t, setJSON(t, a))
	srv.cacheCtl = "public, max-age=120"
	clk := newClock()
	s := newSet(t, srv.URL, clk)
	ctx := context.Background()
	if _, _, err := s.Candidates(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	srv.set(setJSON(t, b), 200)
	clk.Advance(121 * time.Second)
	// A known kid is served at once; the expired TTL starts a background refresh.
	if _, exact, err := s.Candidates(ctx, "a"); err != nil || !exact {
		t.Fatalf("Candidates(a) at TTL: exact=%v err=%v", exact, err)
	}
	waitFor(t, func() bool { return s.Keys().Lookup("b") != nil })
	if got := s.Fetches(); got != 2 {
		t.Errorf("fetches = %d, want 2", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSetUnknownKidFlood(t *testing.T) {
	a := genKey(t, "ES256", "a")
	srv := newJWKSServer(t, setJSON(t, a))
	clk := newClock()
	s := newSet(t, srv.URL, clk)
	ctx := context.Background()
	if _, _, err := s.Candidates(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	flood := func() {
		var wg sync.WaitGroup
		for i := range 1000 {
			wg.Go(func() {
				ks, exact, err := s.Candidates(ctx, fmt.Sprintf("unknown-%d", i))
				if err != nil || exact || len(ks) != 1 {
					t.Errorf("Candidates(unknown) = %v, %v, %v", ks, exact, err)
				}
			})
		}
		wg.Wait()
	}
	flood() // within the interval: no fetch at all
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("server hits after flood within interval = %d, want 1", got)
	}
	clk.Advance(time.Minute)
	flood() // after the interval: exactly one fetch, shared by all
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("server hits after flood past interval = %d, want 2", got)
	}
	flood()
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("server hits after third flood = %d, want 2", got)
	}
}

func TestSetServerDownKeepsKeys(t *testing.T) {
	a := genKey(t, "ES256", "a")
	srv := newJWKSServer(t, setJSON(t, a))
	clk := newClock()
	s := newSet(t, srv.URL, clk)
	ctx := context.Background()
	if _, _, err := s.Candidates(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	srv.set([]byte("boom"), 500)
	for range 3 {
		clk.Advance(10 * time.Minute) // past TTL and MinInterval
		if _, exact, err := s.Candidates(ctx, "a"); err != nil || !exact {
			t.Fatalf("Candidates(a) with the server down: exact=%v err=%v", exact, err)
		}
		// An unknown kid waits for the refetch, which fails; the old keys stay.
		if ks, _, err := s.Candidates(ctx, "zzz"); err != nil || len(ks) != 1 {
			t.Fatalf("Candidates(zzz) with the server down = %v, %v", ks, err)
		}
	}
	srv.Close()
	clk.Advance(10 * time.Minute)
	if _, _, err := s.Candidates(ctx, "zzz"); err != nil {
		t.Fatalf("Candidates with the server gone: %v", err)
	}
	if _, exact, err := s.Candidates(ctx, "a"); err != nil || !exact {
		t.Fatalf("Candidates(a) with the server gone: %v", err)
	}
}

func TestSetColdStartUnavailable(t *testing.T) {
	srv := newJWKSServer(t, []byte("down"))
	srv.set([]byte("down"), 503)
	clk := newClock()
	s := newSet(t, srv.URL, clk)
	ctx := context.Background()
	_, _, err := s.Candidates(ctx, "a")
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want *UnavailableError", err)
	}
	if ue.RetryAfter < time.Second || ue.Err == nil {
		t.Errorf("RetryAfter = %v, Err = %v", ue.RetryAfter, ue.Err)
	}
	// Backoff: an immediate retry does not fetch again.
	if _, _, err := s.Candidates(ctx, "a"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second err = %v", err)
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("hits = %d, want 1", got)
	}
	// Once the backoff has passed and the server is up, keys arrive.
	a := genKey(t, "ES256", "a")
	srv.set(setJSON(t, a), 200)
	clk.Advance(ue.RetryAfter)
	if _, exact, err := s.Candidates(ctx, "a"); err != nil || !exact {
		t.Fatalf("after recovery: exact=%v err=%v", exact, err)
	}
}

func TestSetEmptySetIsUnavailable(t *testing.T) {
	srv := newJWKSServer(t, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
	s := newSet(t, srv.URL, newClock())
	if _, _, err := s.Candidates(context.Background(), "a"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

func TestSetCancelledCallerDoesNotCancelFetch(t *testing.T) {
	a := genKey(t, "ES256", "a")
	srv := newJWKSServer(t, setJSON(t, a))
	release := make(chan struct{})
	srv.block = release
	s := newSet(t, srv.URL, newClock())

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, _, err := s.Candidates(ctx, "a"); errc <- err }()
	waitFor(t, func() bool { return srv.hits.Load() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err = %v", err)
	}
	srv.mu.Lock()
	srv.block = nil
	srv.mu.Unlock()
	close(release)
	waitFor(t, func() bool { return s.Keys() != nil })
	if _, exact, err := s.Candidates(context.Background(), "a"); err != nil || !exact {
		t.Fatalf("after the fetch finished: exact=%v err=%v", exact, err)
	}
	if got := s.Fetches(); got != 1 {
		t.Errorf("fetches = %d, want 1", got)
	}
}

func TestSetBodyLimit(t *testing.T) {
	a := genKey(t, "ES256", "a")
	big := append(setJSON(t, a)[:0:0], setJSON(t, a)...)
	big = append(big[:len(big)-1], []byte(`,"pad":"`+strings.Repeat("x", 2<<20)+`"}`)...)
	srv := newJWKSServer(t, big)
	s, _ := New(Options{URL: srv.URL, Logger: quiet, MaxBodyBytes: 1 << 20})
	defer s.Close()
	_, _, err := s.Candidates(context.Background(), "a")
	var ue *UnavailableError
	if !errors.As(err, &ue) || !strings.Contains(fmt.Sprint(ue.Err), "exceeds") {
		t.Fatalf("err = %v, want body limit", err)
	}
}

func TestCacheControlTTL(t *testing.T) {
	s, _ := New(Options{URL: "https://x", MinInterval: 30 * time.Second, MaxInterval: time.Hour, TTL: 5 * time.Minute})
	defer s.Close()
	tests := []struct {
		cc   []string
		want time.Duration
	}{
		{nil, 5 * time.Minute},
		{[]string{"max-age=300"}, 5 * time.Minute},
		{[]string{"public, max-age=60"}, time.Minute},
		{[]string{"Max-Age=\"90\""}, 90 * time.Second},
		{[]string{"max-age=1"}, 30 * time.Second},
		{[]string{"max-age=99999999999999"}, time.Hour},
		{[]string{"no-store"}, 30 * time.Second},
		{[]string{"max-age=600", "no-cache"}, 30 * time.Second},
		{[]string{"max-age=-5"}, 5 * time.Minute},
		{[]string{"max-age=abc"}, 5 * time.Minute},
	}
	for _, tt := range tests {
		h := http.Header{}
		for _, v := range tt.cc {
			h.Add("Cache-Control", v)
		}
		if got := s.ttl(h); got != tt.want {
			t.Errorf("ttl(%q) = %v, want %v", tt.cc, got, tt.want)
		}
	}
}

func TestMetadataURL(t *testing.T) {
	tests := []struct{ issuer, want string }{
		{"https://as.example", "https://as.example/.well-known/oauth-authorization-server"},
		{"https://as.example/", "https://as.example/.well-known/oauth-authorization-server"},
		{"https://as.example/tenant1", "https://as.example/.well-known/oauth-authorization-server/tenant1"},
		{"http://127.0.0.1:8080/a/b/", "http://127.0.0.1:8080/.well-known/oauth-authorization-server/a/b"},
		{"as.example", ""},
		{"https://as.example/?q=1", ""},
	}
	for _, tt := range tests {
		got, err := MetadataURL(tt.issuer)
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("MetadataURL(%q) = %q, %v; want %q", tt.issuer, got, err, tt.want)
		}
	}
}

func TestDiscovery(t *testing.T) {
	a := genKey(t, "ES256", "a")
	doc := setJSON(t, a)
	tests := []struct {
		name     string
		path     string // issuer path
		metadata func(issuer, base string) (int, string)
		jwksPath string
		wantErr  bool
	}{
		{"jwks_uri from path-inserted metadata", "/tenant1", func(iss, base string) (int, string) {
			return 200, fmt.Sprintf(`{"issuer":%q,"jwks_uri":%q}`, iss, base+"/keys")
		}, "/keys", false},
		{"root issuer", "", func(iss, base string) (int, string) {
			return 200, fmt.Sprintf(`{"issuer":%q,"jwks_uri":%q}`, iss, base+"/k2")
		}, "/k2", false},
		{"no metadata: fallback", "/t", func(iss, base string) (int, string) { return 404, "" }, "/t/.well-known/jwks.json", false},
		{"no jwks_uri: fallback", "", func(iss, base string) (int, string) { return 200, fmt.Sprintf(`{"issuer":%q}`, iss) }, "/.well-known/jwks.json", false},
		{"issuer mismatch", "", func(iss, base string) (int, string) {
			return 200, fmt.Sprintf(`{"issuer":"https://evil.example","jwks_uri":%q}`, base+"/keys")
		}, "/keys", true},
		{"trailing slash issuer mismatch", "/t", func(iss, base string) (int, string) {
			return 200, fmt.Sprintf(`{"issuer":%q,"jwks_uri":%q}`, iss+"/", base+"/keys")
		}, "/keys", true},
		{"jwks_uri not https", "", func(iss, base string) (int, string) {
			return 200, fmt.Sprintf(`{"issuer":%q,"jwks_uri":"http://evil.example/keys"}`, iss)
		}, "/keys", true},
		{"metadata 500", "", func(iss, base string) (int, string) { return 500, "" }, "/.well-known/jwks.json", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var base, issuer string
			mux := http.NewServeMux()
			mux.HandleFunc("GET /.well-known/oauth-authorization-server"+tt.path, func(w http.ResponseWriter, r *http.Request) {
				status, body := tt.metadata(issuer, base)
				w.WriteHeader(status)
				io.WriteString(w, body)
			})
			mux.HandleFunc("GET "+tt.jwksPath, func(w http.ResponseWriter, r *http.Request) { w.Write(doc) })
			srv := httptest.NewServer(mux)
			defer srv.Close()
			base, issuer = srv.URL, srv.URL+tt.path
			s, err := New(Options{Issuer: issuer, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, exact, err := s.Candidates(context.Background(), "a")
			if tt.wantErr {
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("err = %v, want ErrUnavailable", err)
				}
				return
			}
			if err != nil || !exact {
				t.Fatalf("exact=%v err=%v", exact, err)
			}
		})
	}
}

func TestNewRequiresURLOrIssuer(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New with no URL and no Issuer succeeded")
	}
}

func FuzzParseSet(f *testing.F) {
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"x"}]}`))
	for _, alg := range []string{"RS256", "ES256", "EdDSA", "ES512"} {
		f.Add(setJSON(f, genKey(f, alg, alg)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := ParseSet(data)
		if err != nil {
			return
		}
		for _, k := range ks.Keys() {
			switch pub := k.Public.(type) {
			case *rsa.PublicKey:
				if pub.N.BitLen() < MinRSABits {
					t.Fatalf("accepted %d-bit RSA key", pub.N.BitLen())
				}
			case *ecdsa.PublicKey, ed25519.PublicKey:
			default:
				t.Fatalf("accepted key of type %T", k.Public)
			}
			if len(ks.Lookup(k.ID)) == 0 {
				t.Fatalf("key %q not indexed", k.ID)
			}
		}
	})
}

// FuzzParse: whatever Parse accepts is three canonical base64url segments
// with an allowed alg, and no token verifies with a key unless its signing
// input (header and payload) is one that key signed.
func FuzzParse(f *testing.F) {
	k := genKey(f, "ES256", "k")
	ed := genKey(f, "EdDSA", "d")
	signed := map[string]bool{}
	for _, tok := range []string{sign(f, k, `{"sub":"a"}`), sign(f, ed, `{"sub":"b"}`)} {
		f.Add(tok)
		signed[tok[:strings.LastIndexByte(tok, '.')]] = true
	}
	f.Add("e30.e30.e30")
	f.Add("a.b.c.d.e")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("eyJhbGciOiJFUzI1NiIsImNyaXQiOlsiYjY0Il0sImI2NCI6ZmFsc2V9.e30.e30")
	algs := []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA}
	f.Fuzz(func(t *testing.T, token string) {
		tok, err := Parse(token, algs)
		if err != nil {
			return
		}
		if tok.Alg != "ES256" && tok.Alg != "EdDSA" {
			t.Fatalf("accepted alg %q", tok.Alg)
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted %d parts", len(parts))
		}
		for _, p := range parts {
			b, err := base64.RawURLEncoding.Strict().DecodeString(p)
			if err != nil || len(b) == 0 || base64.RawURLEncoding.EncodeToString(b) != p {
				t.Fatalf("accepted non-canonical segment %q", p)
			}
		}
		for _, key := range []testKey{k, ed} {
			if _, err := tok.Verify(Key{Public: key.priv.Public()}); err == nil && !signed[parts[0]+"."+parts[1]] {
				t.Fatalf("verified %q, which %s never signed", token, key.alg)
			}
		}
	})
}
