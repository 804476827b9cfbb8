package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpauth/mcpauth"
)

// refreshesPerFlow is how many refreshes each client makes with a grant
// before it runs a whole new flow.
const refreshesPerFlow = 20

const (
	loadUser     = "loadtest"
	loadPassword = "loadtest-password-0123456789"
	loadRedirect = "http://127.0.0.1:9/cb"
)

// The steps of one flow, each timed on its own.
var steps = []string{"POST /register", "GET /authorize (sign-in page)", "POST /login (to consent page)",
	"POST /consent (to code)", "POST /token authorization_code", "POST /token refresh_token"}

// standalone load-tests cmd/mcp-auth-server on SQLite: c.sqliteWorkers
// clients, each registering a client, authorizing through the real
// sign-in and consent forms with its own cookie jar, redeeming the code,
// then refreshing refreshesPerFlow times, and again, for
// c.standalone. Prints p50/p99 per step.
func standalone(ctx context.Context, c config) error {
	dir, err := os.MkdirTemp("", "loadcompare-standalone-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "mcp-auth-server")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/mcp-auth-server")
	build.Dir = c.repo
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building cmd/mcp-auth-server in %s: %w", c.repo, err)
	}
	args := []string{"-addr", "127.0.0.1:0", "-store", "sqlite:" + filepath.Join(dir, "db"),
		"-user", loadUser + ":" + loadPassword, "-rate-limit", "off", "-password-check-wait", "60s",
		"-log-level", "error"}
	srv := exec.Command(bin, args...)
	srv.Stderr = os.Stderr
	out, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			srv.Process.Kill()
			<-done
		}
	}()
	issuer, err := readIssuer(out)
	if err != nil {
		return err
	}
	go io.Copy(io.Discard, out)
	if err := waitReady(ctx, issuer); err != nil {
		return err
	}

	type sample struct {
		step int
		d    time.Duration
	}
	var (
		mu    sync.Mutex
		lat   = make([][]time.Duration, len(steps))
		first error
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpu0 := procCPU(srv.Process.Pid)
	start := time.Now()
	deadline := start.Add(c.standalone)
	for range c.sqliteWorkers {
		wg.Go(func() {
			var mine []sample
			time1 := func(step int, f func() error) error {
				t0 := time.Now()
				err := f()
				if err == nil {
					mine = append(mine, sample{step, time.Since(t0)})
				}
				return err
			}
			var err error
			for err == nil && time.Now().Before(deadline) {
				var t tokens
				var clientID string
				if t, clientID, err = fullFlow(ctx, issuer, time1); err != nil {
					break
				}
				for i := 0; i < refreshesPerFlow && err == nil && time.Now().Before(deadline); i++ {
					err = time1(5, func() error { return refreshAt(ctx, issuer, clientID, &t) })
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil && !errors.Is(err, context.Canceled) {
				first = err
				cancel()
			}
			for _, s := range mine {
				lat[s.step] = append(lat[s.step], s.d)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := procCPU(srv.Process.Pid)
	if first != nil {
		return first
	}
	fmt.Fprintf(c.out, "### Standalone server on SQLite: %d clients for %s (full flows via the sign-in and consent forms, then %d refreshes each)\n\n",
		c.sqliteWorkers, c.standalone, refreshesPerFlow)
	shown := strings.Join(args, " ")
	shown = strings.ReplaceAll(shown, dir, "<tmp>")
	fmt.Fprintf(c.out, "`mcp-auth-server %s` (rate limits off: every client is 127.0.0.1)\n\n", shown)
	fmt.Fprintln(c.out, "| step | requests | req/s | p50 | p99 |")
	fmt.Fprintln(c.out, "|---|---|---|---|---|")
	total := 0
	for i, name := range steps {
		st := &stats{lat: lat[i], requests: len(lat[i]), elapsed: elapsed}
		total += st.requests
		fmt.Fprintf(c.out, "| %s | %d | %.0f | %s | %s |\n", name, st.requests, st.rps(), fmtDur(st.pct(0.5)), fmtDur(st.pct(0.99)))
	}
	cpu := "unknown"
	if cpu0 >= 0 && cpu1 >= 0 && total > 0 {
		cpu = fmt.Sprintf("%.0f µs", float64(cpu1-cpu0)/float64(total))
	}
	fmt.Fprintf(c.out, "\n%d requests in %s: %.0f req/s; server CPU per request (all steps, argon2id sign-ins included) %s\n\n",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), cpu)
	return nil
}

// readIssuer reads the startup banner up to its "Issuer:" line.
func readIssuer(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Issuer:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", errors.New("mcp-auth-server printed no Issuer line")
}

func waitReady(ctx context.Context, issuer string) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/oauth-authorization-server", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("mcp-auth-server did not answer its metadata within 30 s")
}

// procCPU is pid's user+system CPU time in microseconds (from
// /proc/pid/stat, in clock ticks of 10 ms), or -1.
func procCPU(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (u + s) * 10000
}

var (
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="(req|csrf)" value="([^"]*)">`)
)

// fullFlow is what a new MCP client and its user do: RFC 7591
// registration, the authorization request, the sign-in form, the consent
// form, and the code redemption with PKCE.
func fullFlow(ctx context.Context, issuer string, time1 func(int, func() error) error) (tokens, string, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Host == "127.0.0.1:9" { // the client's redirect URI: stop, read the code
				return http.ErrUseLastResponse
			}
			return nil
		}}
	var clientID string
	err := time1(0, func() error {
		body := `{"redirect_uris":["` + loadRedirect + `"],"token_endpoint_auth_method":"none","client_name":"load test",` +
			`"grant_types":["authorization_code","refresh_token"]}`
		resp, err := post(ctx, hc, issuer+"/register", "application/json", body)
		if err != nil {
			return err
		}
		var c struct {
			ClientID string `json:"client_id"`
		}
		if resp.StatusCode != http.StatusCreated || json.Unmarshal(resp.body, &c) != nil || c.ClientID == "" {
			return fmt.Errorf("/register: %d %.200s", resp.StatusCode, resp.body)
		}
		clientID = c.ClientID
		return nil
	})
	if err != nil {
		return tokens{}, "", err
	}
	var page *response
	err = time1(1, func() error {
		q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {loadRedirect},
			"code_challenge": {mcpauth.S256Challenge(pkceVerifier)}, "code_challenge_method": {"S256"},
			"scope": {"tools:read offline_access"}, "state": {"load-test-state"}, "resource": {issuer + "/mcp"}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/authorize?"+q.Encode(), nil)
		req.Header.Set("Accept", "text/html")
		var err error
		if page, err = do(hc, req); err != nil {
			return err
		}
		if page.StatusCode != http.StatusOK {
			return fmt.Errorf("/authorize: %d %.200s", page.StatusCode, page.body)
		}
		return nil
	})
	if err != nil {
		return tokens{}, "", err
	}
	err = time1(2, func() error {
		var err error
		page, err = submit(ctx, hc, issuer, page, url.Values{"username": {loadUser}, "password": {loadPassword}})
		if err != nil {
			return err
		}
		if page.StatusCode != http.StatusOK || !bytes.Contains(page.body, []byte(`value="approve"`)) {
			return fmt.Errorf("sign-in did not reach the consent page: %d %.200s", page.StatusCode, page.body)
		}
		return nil
	})
	if err != nil {
		return tokens{}, "", err
	}
	var code string
	err = time1(3, func() error {
		resp, err := submit(ctx, hc, issuer, page, url.Values{"decision": {"approve"}})
		if err != nil {
			return err
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || loc.Query().Get("code") == "" {
			return fmt.Errorf("consent gave no code: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		code = loc.Query().Get("code")
		return nil
	})
	if err != nil {
		return tokens{}, "", err
	}
	var t tokens
	err = time1(4, func() error {
		var err error
		t, err = tokenAt(ctx, issuer, url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {loadRedirect}, "code_verifier": {pkceVerifier}, "client_id": {clientID},
			"resource": {issuer + "/mcp"}})
		return err
	})
	return t, clientID, err
}

type response struct {
	*http.Response
	body []byte
}

func do(hc *http.Client, req *http.Request) (*response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return &response{resp, b}, err
}

func post(ctx context.Context, hc *http.Client, u, ctype, body string) (*response, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	return do(hc, req)
}

// submit posts page's form (its hidden req and csrf fields plus extra).
func submit(ctx context.Context, hc *http.Client, issuer string, page *response, extra url.Values) (*response, error) {
	m := formAction.FindSubmatch(page.body)
	if m == nil {
		return nil, fmt.Errorf("no form at %s: %.200s", page.Request.URL, page.body)
	}
	action, err := page.Request.URL.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		return nil, err
	}
	for _, h := range hiddenInput.FindAllSubmatch(page.body, -1) {
		extra.Set(string(h[1]), html.UnescapeString(string(h[2])))
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(extra.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	return do(hc, req)
}

var tokenClient = newClient(128)

func tokenAt(ctx context.Context, issuer string, form url.Values) (tokens, error) {
	s := &server{name: "mcp-auth-server", base: issuer, hc: tokenClient}
	return s.token(ctx, form)
}

func refreshAt(ctx context.Context, issuer, clientID string, t *tokens) error {
	nt, err := tokenAt(ctx, issuer, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t.refresh},
		"client_id": {clientID}})
	if err == nil {
		*t = nt
	}
	return err
}
