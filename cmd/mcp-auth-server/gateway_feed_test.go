package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGatewayRevocationFeed: with -remote-client-id the gateway follows the
// authorization server's revocation feed: a revoked token is refused at
// once although the introspection answer that it is active is still
// reused (-remote-introspection-ttl 1h); with the authorization server
// gone, /healthz says degraded and verified tokens still pass.
func TestGatewayRevocationFeed(t *testing.T) {
	rec := &recorder{}
	up := httptest.NewServer(rec)
	defer up.Close()
	gwAddr, asAddr := freeAddr(t), freeAddr(t)
	gwURL := "http://" + gwAddr + "/mcp"
	db := "sqlite:" + filepath.Join(t.TempDir(), "as.db")
	asArgs := []string{"-addr", asAddr, "-store", db, "-user", "alice:alice-password", "-demo-mcp=false", "-resource", gwURL}
	as := startRun(t, asArgs...)
	gwID, gwSecret := registerConfidential(t, as.issuer, "http://127.0.0.1:9/cb")
	if err := as.stop(); err != nil {
		t.Fatal(err)
	}
	as = startRun(t, append(asArgs, "-introspector", gwID)...)
	banner := startGateway(t, "-addr", gwAddr, "-remote-issuer", as.issuer, "-upstream", up.URL+"/mcp",
		"-remote-client-id", gwID, "-remote-client-secret", gwSecret, "-remote-introspection-ttl", "1h")
	if !strings.Contains(banner, "Revocation feed:    "+as.issuer+"/revocations") {
		t.Errorf("banner %q", banner)
	}
	health := func() string {
		resp, err := http.Get("http://" + gwAddr + "/healthz")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting: %s", what)
			}
		}
	}
	waitFor("feed connected", func() bool { return strings.Contains(health(), `"ok"`) })

	tok := authorizeAs(t, as.issuer, "alice", "alice-password", "tools:read", gwURL).token["access_token"].(string)
	if resp := mcpPost(t, gwURL, tok, initBody, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("before revocation: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, err := http.PostForm(as.issuer+"/revoke", url.Values{"token": {tok}, "client_id": {claim(t, tok, "client_id")}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor("revoked token refused by the gateway", func() bool {
		resp := mcpPost(t, gwURL, tok, initBody, nil)
		return resp.StatusCode == http.StatusUnauthorized && strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
	})

	fresh := authorizeAs(t, as.issuer, "alice", "alice-password", "tools:read", gwURL).token["access_token"].(string)
	if resp := mcpPost(t, gwURL, fresh, initBody, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh token: %d", resp.StatusCode)
	}
	if err := as.stop(); err != nil {
		t.Fatal(err)
	}
	waitFor("healthz degraded", func() bool { return strings.Contains(health(), `"degraded"`) })
	if resp := mcpPost(t, gwURL, fresh, initBody, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("feed down (fail open): %d, want the verified token accepted", resp.StatusCode)
	}
}

// answeringStore is a store whose database answers.
type answeringStore struct{ memoryStore }

func (answeringStore) IsRevoked(context.Context, string, string) (bool, error) { return false, nil }

// TestHealthzReportsFeedDegraded: the standalone authorization server's
// /healthz says degraded (200: it still serves) when its replica cannot
// follow the revocation feed, and ok otherwise.
func TestHealthzReportsFeedDegraded(t *testing.T) {
	for _, tc := range []struct {
		down bool
		want string
	}{{false, `"ok"`}, {true, `"degraded"`}} {
		rec := httptest.NewRecorder()
		healthHandler(answeringStore{}, slog.New(slog.DiscardHandler), func() bool { return tc.down })(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("feed down %v: %d %s, want 200 %s", tc.down, rec.Code, rec.Body, tc.want)
		}
	}
}
