package mcpauth_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
)

// TestIntrospectCacheIsRevocationAware: /introspect caches the signature and
// claim checks of a token (the Verifier's cache type), but every answer
// still consults the store's revocations, so a revocation made by another
// replica sharing the stores is seen at once, and a cached token still ends
// at its exp.
func TestIntrospectCacheIsRevocationAware(t *testing.T) {
	for _, size := range []int{0, 1, -1} { // default, one entry, disabled
		t.Run(fmt.Sprintf("VerifiedTokenCacheSize=%d", size), func(t *testing.T) { testIntrospectCache(t, size) })
	}
}

func testIntrospectCache(t *testing.T, size int) {
	e := newEnv(t, func(c *mcpauth.Config) { c.VerifiedTokenCacheSize = size })
	replica := newEnv(t, func(c *mcpauth.Config) { c.Clients, c.Grants, c.Keys, c.Now = e.clients, e.grants, e.keys, e.clock.Now })

	tests := []struct {
		name   string
		revoke func(t *testing.T, tok map[string]any)
	}{
		{"access token revoked on the other replica", func(t *testing.T, tok map[string]any) {
			resp := replica.postForm("/revoke", url.Values{"token": {tok["access_token"].(string)}, "client_id": {"pub1"}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke: %d %s", resp.StatusCode, peek(resp))
			}
		}},
		{"grant revoked on the other replica (refresh token)", func(t *testing.T, tok map[string]any) {
			resp := replica.postForm("/revoke", url.Values{"token": {tok["refresh_token"].(string)}, "client_id": {"pub1"}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke: %d %s", resp.StatusCode, peek(resp))
			}
		}},
		{"access token revoked here", func(t *testing.T, tok map[string]any) {
			resp := e.postForm("/revoke", url.Values{"token": {tok["access_token"].(string)}, "client_id": {"pub1"}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke: %d %s", resp.StatusCode, peek(resp))
			}
		}},
		{"expired while cached", func(t *testing.T, tok map[string]any) {
			// 31 s: past the default 30 s clock leeway.
			e.clock.Advance(time.Duration(tok["expires_in"].(float64))*time.Second + 31*time.Second)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := e.tokens("pub1", url.Values{"scope": {"read offline_access"}})
			at := tok["access_token"].(string)
			for range 3 { // the first verifies, the rest are answered from the cache
				if !e.active(at) {
					t.Fatal("live token inactive")
				}
			}
			tt.revoke(t, tok)
			if e.active(at) {
				t.Fatal("introspection still active after the token ended")
			}
		})
	}
}
