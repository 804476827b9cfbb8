package mcpauth_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store"
)

// TestBodyReadTimeoutCutsSlowSenders: a client trickling a request body is
// answered 408 and disconnected once Config.BodyReadTimeout has passed,
// long before its body would have been complete, while other clients are
// answered at once.
func TestBodyReadTimeoutCutsSlowSenders(t *testing.T) {
	e := newEnv(t, func(c *mcpauth.Config) { c.BodyReadTimeout = 500 * time.Millisecond })
	ts := httptest.NewServer(e.srv)
	defer ts.Close()

	const slow = 20
	const bodyLen = 100 // one byte per 100 ms: 10 s to send it all
	type result struct {
		status   string
		finished bool // the client had sent its whole body
	}
	results := make(chan result, slow)
	for i := range slow {
		path := []string{"/token", "/register", "/revoke", "/introspect"}[i%4]
		go func() {
			conn, err := net.Dial("tcp", ts.Listener.Addr().String())
			if err != nil {
				results <- result{status: err.Error()}
				return
			}
			defer conn.Close()
			ct := "application/x-www-form-urlencoded"
			if path == "/register" {
				ct = "application/json"
			}
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, ct, bodyLen)
			var sent atomic.Int32
			go func() {
				for range bodyLen {
					if _, err := conn.Write([]byte("a")); err != nil {
						return
					}
					sent.Add(1)
					time.Sleep(100 * time.Millisecond)
				}
			}()
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil {
				line = "read: " + err.Error()
			}
			results <- result{status: strings.TrimSpace(line), finished: sent.Load() == bodyLen}
		}()
	}

	// Meanwhile the server answers everyone else.
	resp, err := http.Post(ts.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=authorization_code&code=x&client_id=pub&code_verifier=x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a prompt token request got %d during the slow ones", resp.StatusCode)
	}

	for range slow {
		r := <-results
		if !strings.HasPrefix(r.status, "HTTP/1.1 408") || r.finished {
			t.Errorf("slow sender: %q (whole body sent: %v), want 408 before the body was complete", r.status, r.finished)
		}
	}
}

// slowClients makes SetClient take longer than the body deadline, honouring
// its context as a real database would.
type slowClients struct {
	store.ClientStore
	delay time.Duration
}

func (s slowClients) SetClient(ctx context.Context, c *store.Client) error {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.ClientStore.SetClient(ctx, c)
}

// TestBodyReadTimeoutSparesSlowHandlers: the deadline covers the body only.
// A handler that has read its body and then works past the deadline keeps
// its request context (a deadline left on the connection would fire in the
// server's background read and cancel it).
func TestBodyReadTimeoutSparesSlowHandlers(t *testing.T) {
	e := newEnv(t, func(c *mcpauth.Config) {
		c.BodyReadTimeout = 200 * time.Millisecond
		c.Clients = slowClients{ClientStore: store.NewMemoryClientStore(), delay: 600 * time.Millisecond}
	})
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	for range 2 { // the second on a kept-alive connection
		resp, err := http.Post(ts.URL+"/register", "application/json",
			strings.NewReader(`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("register with a slow store: %d %s", resp.StatusCode, peek(resp))
		}
		resp.Body.Close()
	}
}
