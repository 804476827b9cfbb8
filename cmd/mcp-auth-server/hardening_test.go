package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	authstore "github.com/mcpauth/mcpauth/store"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store/sqlite"
)

// hostOf is the host:port of an issuer URL.
func hostOf(t *testing.T, issuer string) string {
	t.Helper()
	u, err := url.Parse(issuer)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestSlowBodiesDoNotStopTheServer: 1,000 connections that send their
// headers and then trickle a POST body (one byte every 200 ms, so 200 s for
// the whole body) neither keep the server from answering /healthz and a
// token request, nor stay open: each is cut once -body-read-timeout has
// passed.
func TestSlowBodiesDoNotStopTheServer(t *testing.T) {
	const timeout = 3 * time.Second
	n := 1000
	// Both ends of every connection live in this process: 2 fds each.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(2*n+256) {
		lim.Cur = min(lim.Max, uint64(2*n+256))
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		if lim.Cur < uint64(2*n+256) {
			n = int(lim.Cur-256) / 2
			t.Logf("RLIMIT_NOFILE %d: %d slow connections", lim.Cur, n)
		}
	}
	s := startRun(t, "-store", "memory:", "-user", "a:b", "-rate-limit", "off", "-body-read-timeout", timeout.String())
	addr := hostOf(t, s.issuer)

	type slowConn struct {
		conn   net.Conn
		closed atomic.Bool
		status string
	}
	conns := make([]*slowConn, n)
	var wg sync.WaitGroup
	paths := []string{"/token", "/register", "/revoke", "/mcp"}
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		sc := &slowConn{conn: c}
		conns[i] = sc
		defer c.Close()
		path, ct := paths[i%len(paths)], "application/x-www-form-urlencoded"
		if path == "/register" || path == "/mcp" {
			ct = "application/json"
		}
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\na", path, addr, ct)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(timeout + 30*time.Second))
			br := bufio.NewReader(c)
			line, _ := br.ReadString('\n')
			sc.status = strings.TrimSpace(line)
			_, err := io.Copy(io.Discard, br)
			if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
				sc.closed.Store(true) // EOF or reset: the server hung up
			}
		}()
	}
	start := time.Now()
	stopTrickle := make(chan struct{})
	defer close(stopTrickle)
	go func() {
		for {
			select {
			case <-stopTrickle:
				return
			case <-time.After(200 * time.Millisecond):
			}
			for _, sc := range conns {
				if !sc.closed.Load() {
					sc.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
					sc.conn.Write([]byte("a"))
				}
			}
		}
	}()

	// With every slow connection open, others are still served.
	if h := getJSON(t, s.issuer+"/healthz", http.StatusOK); h["status"] != "ok" {
		t.Errorf("healthz %v", h)
	}
	resp, err := http.Post(s.issuer+"/token", "application/x-www-form-urlencoded",
		strings.NewReader("grant_type=authorization_code&code=nope&client_id=nobody&code_verifier=x"))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode >= 500 || body["error"] == nil {
		t.Errorf("token request during the slow bodies: %d %v", resp.StatusCode, body)
	}
	open := 0
	for _, sc := range conns {
		if !sc.closed.Load() {
			open++
		}
	}
	t.Logf("answered /healthz and /token %v after opening %d slow connections, %d of them still open", time.Since(start), n, open)

	wg.Wait()
	cutBy := time.Since(start)
	statuses := map[string]int{}
	for _, sc := range conns {
		if !sc.closed.Load() {
			t.Fatalf("a slow connection (%q) was still open %v after the body deadline", sc.status, cutBy-timeout)
		}
		statuses[sc.status]++
	}
	t.Logf("all %d cut within %v (deadline %v); first lines: %v", n, cutBy, timeout, statuses)
	for st := range statuses {
		// 408 from the endpoints that read the body; /mcp answers 401
		// before reading it, then its connection is cut the same way.
		if !strings.HasPrefix(st, "HTTP/1.1 408") && !strings.HasPrefix(st, "HTTP/1.1 401") {
			t.Errorf("a slow sender got %q", st)
		}
	}
}

// gatedStore is a store whose SetClient (client registration) waits until
// release is closed, honouring its context as a real database does.
type gatedStore struct {
	store
	entered atomic.Int32
	release chan struct{}
}

func (g *gatedStore) SetClient(ctx context.Context, c *authstore.Client) error {
	g.entered.Add(1)
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.store.SetClient(ctx, c)
}

// TestShutdownFinishesInFlightRequests: SIGTERM (ctx cancelled) with 96
// requests in flight stops accepting, ends the open audit stream at once,
// lets all 96 finish with their answers (zero 5xx), then run returns nil
// (exit 0).
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	const inFlight = 96
	gate := &gatedStore{release: make(chan struct{})}
	s := startRunWith(t, func(st store) store { gate.store = st; return gate },
		"-store", "memory:", "-user", "a:b", "-rate-limit", "off", "-audit-secret", "an-operator-secret-123")

	req, _ := http.NewRequest(http.MethodGet, s.issuer+"/events/stream", nil)
	req.Header.Set("Authorization", "Bearer an-operator-secret-123")
	stream, err := http.DefaultClient.Do(req)
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("audit stream: %v %v", stream, err)
	}
	streamDone := make(chan struct{})
	go func() { io.Copy(io.Discard, stream.Body); stream.Body.Close(); close(streamDone) }()

	statuses := make(chan int, inFlight)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: inFlight}}
	for range inFlight {
		go func() {
			resp, err := client.Post(s.issuer+"/register", "application/json",
				strings.NewReader(`{"redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none"}`))
			if err != nil {
				statuses <- -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	for deadline := time.Now().Add(20 * time.Second); gate.entered.Load() < inFlight; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests reached the store", gate.entered.Load(), inFlight)
		}
	}

	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }() // what SIGTERM does: cancel run's context

	select {
	case <-streamDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the audit stream is still open 5 s into the shutdown")
	}
	if c, err := net.DialTimeout("tcp", hostOf(t, s.issuer), time.Second); err == nil {
		c.Close()
		t.Error("still accepting connections during the shutdown")
	}
	select {
	case err := <-stopped:
		t.Fatalf("run returned (%v) with %d requests in flight", err, inFlight)
	default:
	}

	close(gate.release)
	counts := map[int]int{}
	for range inFlight {
		counts[<-statuses]++
	}
	if counts[http.StatusCreated] != inFlight {
		t.Errorf("in-flight requests across the shutdown: %v (status: count), want all %d 201", counts, inFlight)
	}
	if err := <-stopped; err != nil {
		t.Errorf("run after SIGTERM: %v, want nil (exit 0)", err)
	}
}

// TestShutdownTimeoutBoundsStuckRequests: a request that never finishes
// holds the shutdown only for -shutdown-timeout, then is cancelled; run
// still returns nil.
func TestShutdownTimeoutBoundsStuckRequests(t *testing.T) {
	gate := &gatedStore{release: make(chan struct{})} // never released
	s := startRunWith(t, func(st store) store { gate.store = st; return gate },
		"-store", "memory:", "-user", "a:b", "-shutdown-timeout", "1s")
	go func() {
		resp, err := http.Post(s.issuer+"/register", "application/json",
			strings.NewReader(`{"redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none"}`))
		if err == nil {
			resp.Body.Close()
		}
	}()
	for gate.entered.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := s.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if d := time.Since(start); d < time.Second || d > 5*time.Second {
		t.Errorf("shutdown with a stuck request took %v, want about -shutdown-timeout (1s)", d)
	}
}

// storeFiles reads every file beside the database.
func storeFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

// TestStoreSecretsAtRest: without -store-key the SQLite store gets a key
// generated into a 0600 file beside it (the banner says where); the
// database, its -wal and -shm files are 0600; and neither the private
// signing key (its JWK "d") nor the session key appears in any file.
func TestStoreSecretsAtRest(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "state.db")
	s := startRun(t, "-store", "sqlite:"+db, "-user", "a:b")
	if want := "Store key:          generated into " + db + ".key"; !strings.Contains(s.banner, want) {
		t.Errorf("banner lacks %q:\n%s", want, s.banner)
	}
	signIn(t, s.issuer, "a", "b") // a session, a pending request, a client: real writes
	for _, name := range []string{"state.db", "state.db-wal", "state.db-shm", "state.db.key"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %v, want -rw-------", name, m)
		}
	}
	files := storeFiles(t, dir) // while running: the WAL holds the latest writes
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	for name, b := range storeFiles(t, dir) {
		files[name+" (after exit)"] = b
	}

	keyText, _ := os.ReadFile(db + ".key")
	key, err := parseStoreKey(string(keyText))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), db, sqlite.WithEncryptionKey(key))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := st.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, k := range keys {
		var jwk struct{ D, K string }
		if err := json.Unmarshal(k.PrivateJWK, &jwk); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, jwk.D+jwk.K) // "d" of a signing key, "k" of a session key
		if raw, err := base64.RawURLEncoding.DecodeString(jwk.D + jwk.K); err == nil {
			secrets = append(secrets, string(raw))
		}
	}
	if len(secrets) < 4 {
		t.Fatalf("want a signing key and a session key in the store, got %d entries", len(keys))
	}
	for name, b := range files {
		if strings.HasSuffix(name, ".key") || strings.HasSuffix(name, ".key (after exit)") {
			continue
		}
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) {
				t.Errorf("%s contains a private key in plain text", name)
			}
		}
	}
	plain, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.ListKeys(t.Context()); !errors.Is(err, sqlite.ErrEncryptionKey) {
		t.Errorf("the keys read without the store key: %v", err)
	}
}

// reachesConsent starts an authorization in the browser c and reports
// whether it lands on the consent page (signed in) rather than the login page.
func reachesConsent(t *testing.T, c *http.Client, iss string) bool {
	t.Helper()
	resp, page := authorizePage(t, c, iss, registerPublicClient(t, iss), nil)
	switch {
	case bytes.Contains(page, []byte(`value="approve"`)):
		return true
	case bytes.Contains(page, []byte(`name="username"`)):
		return false
	}
	t.Fatalf("authorize landed on neither page: %d %.300s", resp.StatusCode, page)
	return false
}

// TestSessionSurvivesRestart: a browser signed in before a restart on the
// same store and store key is still signed in after it (the session key
// lives, encrypted, in the store, not in the process).
func TestSessionSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"generated key file", nil},
		{"-store-key", []string{"-store-key", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-store", "sqlite:" + filepath.Join(t.TempDir(), "state.db"), "-user", "ann:pw-ann"}, tc.args...)
			jar, _ := cookiejar.New(nil)
			browser := &http.Client{Jar: jar}
			s := startRun(t, args...)
			signInWith(t, browser, s.issuer, "ann", "pw-ann")
			if !reachesConsent(t, browser, s.issuer) {
				t.Fatal("not signed in before the restart")
			}
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			s = startRun(t, args...) // another port; cookies are per host
			if !reachesConsent(t, browser, s.issuer) {
				t.Error("the session did not survive the restart")
			}
			fresh := &http.Client{}
			if reachesConsent(t, fresh, s.issuer) {
				t.Error("a browser without the cookie is signed in")
			}
		})
	}
}

// TestWrongStoreKeyExit1OneLine: a store key that does not decrypt the
// stored keys stops the start with exit status 1 and one line naming it.
func TestWrongStoreKeyExit1OneLine(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "state.db")
	right := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	wrong := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	s := startRun(t, "-store", "sqlite:"+db, "-user", "a:b", "-store-key", right)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"flag", []string{"-store-key", wrong}, nil, "-store-key does not decrypt"},
		{"environment", nil, map[string]string{"MCPAUTH_STORE_KEY": wrong}, "-store-key does not decrypt"},
		{"key file", nil, nil, "does not decrypt the keys in the store"}, // generates state.db.key: another key
	} {
		code, _, stderr := runExit(t, append([]string{"-addr", "127.0.0.1:0", "-store", "sqlite:" + db, "-user", "a:b"}, tc.args...), tc.env)
		if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 1 and one line with %q", tc.name, code, stderr, tc.want)
		}
		if strings.Contains(stderr, right) || strings.Contains(stderr, wrong) {
			t.Errorf("%s: the key is in the message", tc.name)
		}
	}
	// The right key still opens it.
	s = startRun(t, "-store", "sqlite:"+db, "-user", "a:b", "-store-key", right)
	s.stop()
}

func TestParseStoreKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb}, 32)
	for _, ok := range []string{
		base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
		fmt.Sprintf("%x", raw), " " + base64.StdEncoding.EncodeToString(raw) + "\n",
	} {
		if k, err := parseStoreKey(ok); err != nil || !bytes.Equal(k, raw) {
			t.Errorf("%q: %x %v", ok, k, err)
		}
	}
	for _, bad := range []string{"short", base64.StdEncoding.EncodeToString(raw[:16]), strings.Repeat("z", 64), "not base64 at all!"} {
		_, err := parseFlags([]string{"-store-key", bad}, envMap(nil), io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "-store-key") || strings.Contains(err.Error(), bad) && len(bad) > 10 {
			t.Errorf("%q: %v, want a usage error naming -store-key without the value", bad, err)
		}
	}
	for _, bad := range [][]string{{"-body-read-timeout", "-1s"}, {"-shutdown-timeout", "0"}, {"-shutdown-timeout", "soon"}} {
		if _, err := parseFlags(bad, envMap(nil), io.Discard); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

// accessToken runs the whole authorization code flow as user and returns an
// access token for the demo MCP server.
func accessToken(t *testing.T, iss, user, password string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if r.URL.Host == "127.0.0.1:9" {
			return http.ErrUseLastResponse // the client's redirect URI: take the code
		}
		return nil
	}}
	clientID := registerPublicClient(t, iss)
	signInWith(t, browser, iss, user, password) // leaves the session cookie
	_, page := authorizePage(t, browser, iss, clientID, nil)
	form := hiddenFields(page)
	form.Set("decision", "approve")
	resp := postForm(t, browser, iss+"/consent", form)
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("consent: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err := http.PostForm(iss+"/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
		"redirect_uri": {testRedirect}, "code_verifier": {"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	if tok.AccessToken == "" {
		t.Fatalf("token: %d", resp.StatusCode)
	}
	return tok.AccessToken
}

// TestShutdownEndsMCPStream: an open MCP GET stream (server-to-client SSE)
// ends as soon as the shutdown starts, and run returns promptly.
func TestShutdownEndsMCPStream(t *testing.T) {
	s := startRun(t, "-store", "memory:", "-user", "a:b", "-rate-limit", "off")
	token := accessToken(t, s.issuer, "a", "b")
	mcpReq := func(method, body, session string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, s.issuer+"/mcp", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := mcpReq(http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, "")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	session := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || session == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, session)
	}
	resp = mcpReq(http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, session)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	stream := mcpReq(http.MethodGet, "", session)
	if stream.StatusCode != http.StatusOK || !strings.HasPrefix(stream.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET /mcp: %d %s", stream.StatusCode, stream.Header.Get("Content-Type"))
	}
	streamDone := make(chan struct{})
	go func() { io.Copy(io.Discard, stream.Body); stream.Body.Close(); close(streamDone) }()

	start := time.Now()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-streamDone:
	case <-time.After(2 * time.Second):
		t.Fatal("the MCP GET stream is still open after the shutdown")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown with an MCP stream open took %v", d)
	}
}

// TestPlaintextStoreEncryptedOnUpgrade: a database written by a version
// that stored the signing key in plain text is encrypted at the first start
// with a store key: same key (tokens stay valid), no plaintext left.
func TestPlaintextStoreEncryptedOnUpgrade(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "state.db")
	old, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mcpauth.NewServer(mcpauth.Config{Issuer: "http://127.0.0.1:1", Scopes: []string{"a"}, Authenticator: mcpauthtest.AutoApprove("x"), Keys: old, Clients: old, Grants: old})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	before, err := old.ListKeys(t.Context())
	if err != nil || len(before) == 0 {
		t.Fatalf("keys %v %v", before, err)
	}
	old.Close()
	var d string
	for _, k := range before {
		var jwk struct{ D string }
		json.Unmarshal(k.PrivateJWK, &jwk)
		d += jwk.D
	}
	if b, _ := os.ReadFile(db); d == "" || !bytes.Contains(b, []byte(d)) {
		t.Fatal("setup: the old database should hold the private key in plain text")
	}

	s := startRun(t, "-store", "sqlite:"+db, "-user", "a:b")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	for name, b := range storeFiles(t, dir) {
		if bytes.Contains(b, []byte(d)) {
			t.Errorf("%s still holds the private key in plain text", name)
		}
	}
	keyText, _ := os.ReadFile(db + ".key")
	key, _ := parseStoreKey(string(keyText))
	st, err := sqlite.Open(t.Context(), db, sqlite.WithEncryptionKey(key))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	after, err := st.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range after {
		found = found || k.ID == before[0].ID && bytes.Equal(k.PrivateJWK, before[0].PrivateJWK)
	}
	if !found {
		t.Error("the old signing key was not kept")
	}
}

func TestParseFlagsHardeningDefaults(t *testing.T) {
	o, err := parseFlags(nil, envMap(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.bodyReadTimeout != 30*time.Second || o.shutdownTimeout != 10*time.Second || o.storeKey != nil {
		t.Errorf("defaults: body %v shutdown %v key %x", o.bodyReadTimeout, o.shutdownTimeout, o.storeKey)
	}
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	o, err = parseFlags(nil, envMap(map[string]string{
		"MCPAUTH_BODY_READ_TIMEOUT": "5s", "MCPAUTH_SHUTDOWN_TIMEOUT": "2m", "MCPAUTH_STORE_KEY": key,
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.bodyReadTimeout != 5*time.Second || o.shutdownTimeout != 2*time.Minute || !bytes.Equal(o.storeKey, bytes.Repeat([]byte{9}, 32)) {
		t.Errorf("from the environment: body %v shutdown %v key %x", o.bodyReadTimeout, o.shutdownTimeout, o.storeKey)
	}
}
