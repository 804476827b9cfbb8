package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpauth/mcpauth"
)

// server is a -serve subprocess.
type server struct {
	name string
	base string
	cmd  *exec.Cmd
	in   io.WriteCloser
	hc   *http.Client
}

// startServer re-executes this program as server kind and waits for its URL.
func startServer(kind, name string, workers int) (*server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), serveEnv+"="+kind)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		in.Close()
		cmd.Wait()
		return nil, fmt.Errorf("%s did not start: %w", kind, err)
	}
	return &server{name: name, base: strings.TrimSpace(line), cmd: cmd, in: in, hc: newClient(workers)}, nil
}

func (s *server) stop() {
	s.in.Close()
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// newClient is a keep-alive client with a connection per worker that
// never follows redirects (the authorization response is a redirect).
func newClient(workers int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConns: workers * 2, MaxIdleConnsPerHost: workers * 2, DisableCompression: true,
			IdleConnTimeout: time.Minute},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// cpu is the server process's CPU time so far, in microseconds.
func (s *server) cpu() (int64, error) {
	resp, err := s.hc.Get(s.base + "/_cpu")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strconv.ParseInt(string(b), 10, 64)
}

// tokens is one worker's grant on one server.
type tokens struct {
	access, refresh string
}

const pkceVerifier = "loadcompare-verifier-0123456789-0123456789-0123456789"

// grant runs the authorization code flow with PKCE (auto-approved) and
// returns the tokens.
func (s *server) grant(ctx context.Context) (tokens, error) {
	q := url.Values{"response_type": {"code"}, "client_id": {publicClient}, "redirect_uri": {redirectURI},
		"code_challenge": {mcpauth.S256Challenge(pkceVerifier)}, "code_challenge_method": {"S256"},
		"scope": {scope}, "state": {"loadcompare-state"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/authorize?"+q.Encode(), nil)
	resp, err := s.hc.Do(req)
	if err != nil {
		return tokens{}, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return tokens{}, fmt.Errorf("%s /authorize: %d, Location %q", s.name, resp.StatusCode, resp.Header.Get("Location"))
	}
	return s.token(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {pkceVerifier}, "client_id": {publicClient}})
}

// token posts a /token request and returns the new tokens.
func (s *server) token(ctx context.Context, form url.Values) (tokens, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.hc.Do(req)
	if err != nil {
		return tokens{}, err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusOK || err != nil || body.AccessToken == "" || body.RefreshToken == "" {
		return tokens{}, fmt.Errorf("%s /token (%s): status %d", s.name, form.Get("grant_type"), resp.StatusCode)
	}
	return tokens{access: body.AccessToken, refresh: body.RefreshToken}, nil
}

// refresh rotates t's refresh token.
func (s *server) refresh(ctx context.Context, t *tokens) error {
	nt, err := s.token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t.refresh},
		"client_id": {publicClient}})
	if err != nil {
		return err
	}
	*t = nt
	return nil
}

// introspect asks about t's access token as the resource server and
// requires active:true.
func (s *server) introspect(ctx context.Context, t *tokens) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/introspect",
		strings.NewReader(url.Values{"token": {t.access}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(introspector, introspectorPW)
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Active bool   `json:"active"`
		Scope  string `json:"scope"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK ||
		!body.Active || !strings.Contains(body.Scope, "tools:read") {
		return fmt.Errorf("%s /introspect: status %d, active %v", s.name, resp.StatusCode, body.Active)
	}
	return nil
}

// stats accumulates one contender's rounds.
type stats struct {
	name     string
	requests int
	elapsed  time.Duration
	cpuMicro int64 // server CPU over the rounds; -1 when unknown
	lat      []time.Duration
}

func (s *stats) rps() float64 { return float64(s.requests) / s.elapsed.Seconds() }

func (s *stats) cpuPerRequest() float64 {
	if s.cpuMicro < 0 || s.requests == 0 {
		return -1
	}
	return float64(s.cpuMicro) / float64(s.requests)
}

func (s *stats) pct(p float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	slices.Sort(s.lat)
	return s.lat[min(len(s.lat)-1, int(p*float64(len(s.lat))))]
}

// round runs op from every worker for d and adds the outcome to st. Any
// failed request fails the round: a benchmark that counts errors as
// throughput measures nothing.
func round(ctx context.Context, s *server, st *stats, states []tokens, d time.Duration,
	op func(context.Context, *tokens) error) error {
	cpu0, err := s.cpu()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		count atomic.Int64
		first error
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for i := range states {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1024)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := op(ctx, &states[i]); err != nil {
					mu.Lock()
					if first == nil && !errors.Is(err, context.Canceled) {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
				lat = append(lat, time.Since(t0))
				count.Add(1)
			}
			mu.Lock()
			st.lat = append(st.lat, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return first
	}
	cpu1, err := s.cpu()
	if err != nil {
		return err
	}
	st.requests += int(count.Load())
	st.elapsed += elapsed
	if st.cpuMicro >= 0 {
		st.cpuMicro += cpu1 - cpu0
	}
	return nil
}
