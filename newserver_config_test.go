package mcpauth_test

import (
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

// TestNewServerLeavesConfigAlone: NewServer must not write into the
// caller's Config (static client secrets used to become digests in the
// caller's backing array, so a second NewServer(cfg) failed).
func TestNewServerLeavesConfigAlone(t *testing.T) {
	build := func() mcpauth.Config {
		return mcpauth.Config{
			Issuer:            testIssuer,
			Scopes:            []string{"read", "write"},
			DefaultScopes:     []string{"read"},
			ScopeDescriptions: map[string]string{"read": "Read"},
			Resources:         []string{resourceA},
			Authenticator:     mcpauthtest.AutoApprove(autoSubject),
			StaticClients:     staticClients(),
			RateLimits:        &limits.RateLimits{Limits: map[string]limits.Rate{limits.EndpointToken: {Requests: 50, Per: time.Minute}}},
			Logger:            discard,
		}
	}
	cfg, before := build(), build()
	// Shared stores, so both servers can be used on the same tokens.
	cfg.Clients, cfg.Grants, cfg.Keys = store.NewMemoryClientStore(), store.NewMemoryGrantStore(nil), store.NewMemoryKeyStore()
	before.Clients, before.Grants, before.Keys = cfg.Clients, cfg.Grants, cfg.Keys
	for i := range 2 {
		srv, err := mcpauth.NewServer(cfg)
		if err != nil {
			t.Fatalf("NewServer #%d: %v", i+1, err)
		}
		t.Cleanup(func() { srv.Close() })
		if !reflect.DeepEqual(cfg, before) {
			t.Fatalf("NewServer #%d changed the caller's Config:\n got %+v\nwant %+v", i+1, cfg, before)
		}
		// The confidential static client still authenticates with its secret.
		e := &env{t: t, srv: srv, issuer: testIssuer}
		resp := e.postForm("/revoke", url.Values{"token": {"unknown"}}, "Authorization", basic("conf", confSecret))
		if resp.StatusCode != 200 {
			t.Fatalf("server #%d: the static client's secret no longer works: %d %s", i+1, resp.StatusCode, peek(resp))
		}
	}
}
