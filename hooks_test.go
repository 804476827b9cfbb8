package mcpauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
)

// recorder collects hook calls.
type hookRecorder struct {
	mu      sync.Mutex
	issued  []mcpauth.TokenIssuedEvent
	revoked []string
	events  []mcpauth.Event
}

func (h *hookRecorder) install(c *mcpauth.Config) {
	c.Hooks = mcpauth.Hooks{
		OnTokenIssued: func(_ context.Context, e mcpauth.TokenIssuedEvent) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.issued = append(h.issued, e)
			return nil
		},
		OnRevocation: func(_ context.Context, id string) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.revoked = append(h.revoked, id)
			return nil
		},
		OnEvent: func(_ context.Context, e mcpauth.Event) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, e)
		},
	}
}

func TestOnTokenIssued(t *testing.T) {
	h := &hookRecorder{}
	e := newEnv(t, h.install)
	m := e.tokens("pub", url.Values{"scope": {"read"}})
	_, claims := jwtParts(t, m["access_token"].(string))
	m2 := jsonBody(t, e.refresh("pub", m["refresh_token"].(string), nil))
	_, claims2 := jwtParts(t, m2["access_token"].(string))
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.issued) != 2 {
		t.Fatalf("OnTokenIssued called %d times, want 2", len(h.issued))
	}
	for i, c := range []map[string]any{claims, claims2} {
		got := h.issued[i]
		want := mcpauth.TokenIssuedEvent{ClientID: "pub", Subject: autoSubject, Scopes: []string{"read"}, GrantID: c["grnt"].(string),
			AgentDID: "did:grantex:" + testAgentID, TokenID: c["jti"].(string), ExpiresAt: testEpoch.Add(time.Hour), Refreshed: i == 1}
		if got.ClientID != want.ClientID || got.Subject != want.Subject || !slices.Equal(got.Scopes, want.Scopes) || got.GrantID != want.GrantID ||
			got.AgentDID != want.AgentDID || got.TokenID != want.TokenID || !got.ExpiresAt.Equal(want.ExpiresAt) || got.Refreshed != want.Refreshed {
			t.Errorf("call %d: got %+v, want %+v", i, got, want)
		}
	}
}

// TestHookFailuresDoNotChangeResponses: a hook that fails or panics is
// logged; the response is what it would have been.
func TestHookFailuresDoNotChangeResponses(t *testing.T) {
	tests := []struct {
		name string
		fail func() error
		log  string
	}{
		{"error", func() error { return errors.New("hook exploded") }, "hook failed"},
		{"panic", func() error { panic("hook panicked hard") }, "hook panicked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *mcpauth.Config) {
				c.Hooks = mcpauth.Hooks{
					OnTokenIssued: func(context.Context, mcpauth.TokenIssuedEvent) error { return tt.fail() },
					OnRevocation:  func(context.Context, string) error { return tt.fail() },
					OnEvent:       func(context.Context, mcpauth.Event) { _ = tt.fail() },
				}
			})
			m := e.tokens("pub", nil) // fails the test unless 200
			if resp := e.refresh("pub", m["refresh_token"].(string), nil); resp.StatusCode != 200 {
				t.Errorf("refresh: got %d, want 200", resp.StatusCode)
			}
			for _, tok := range []string{m["access_token"].(string), "garbage"} {
				if resp := e.postForm("/revoke", url.Values{"token": {tok}, "client_id": {"pub"}}); resp.StatusCode != 200 {
					t.Errorf("revoke: got %d, want 200", resp.StatusCode)
				}
			}
			if resp := e.postJSON("/register", map[string]any{"redirect_uris": []string{"https://a.example.com/cb"}}); resp.StatusCode != 201 {
				t.Errorf("register: got %d, want 201", resp.StatusCode)
			}
			logs := e.logs.String()
			hooks := []string{"OnTokenIssued", "OnRevocation"}
			if tt.name == "panic" {
				hooks = append(hooks, "OnEvent") // OnEvent returns no error
			}
			for _, hook := range hooks {
				if !strings.Contains(logs, tt.log) || !strings.Contains(logs, "hook="+hook) {
					t.Errorf("%s %s not logged", hook, tt.name)
				}
			}
		})
	}
}

// TestOnEvent: the audit events of a whole lifecycle, none carrying a secret.
func TestOnEvent(t *testing.T) {
	h := &hookRecorder{}
	e := newEnv(t, h.install, withUsers(t))
	var secrets []string

	resp := e.postJSON("/register", map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"}, "grant_types": []string{"authorization_code", "refresh_token"}})
	reg := jsonBody(t, resp)
	id, sec := reg["client_id"].(string), reg["client_secret"].(string)
	secrets = append(secrets, sec)

	b := e.browser()
	v := newVerifier()
	form, _ := loginFlow(t, e, b, authzQuery(id, pubRedirect, v))
	form.Set("decision", "approve")
	code := location(t, b.post(e.issuer+"/consent", form)).Query().Get("code")
	secrets = append(secrets, code, v, form.Get("req"), form.Get("csrf"))
	for _, c := range b.jar.Cookies(mustURL(e.issuer)) {
		secrets = append(secrets, c.Value)
	}
	tokForm := tokenReq("", code, v, pubRedirect)
	m := jsonBody(t, e.postForm("/token", tokForm, "Authorization", basic(id, sec)))
	at, rt := m["access_token"].(string), m["refresh_token"].(string)
	secrets = append(secrets, at, rt)
	e.postForm("/token", tokForm, "Authorization", basic(id, sec)) // replay: revokes the grant

	// More grants: refresh, revocations, reuse, and a denied request.
	grant := func() map[string]any {
		form, _ := loginFlow(t, e, b, authzQuery(id, pubRedirect, v))
		form.Set("decision", "approve")
		code := location(t, b.post(e.issuer+"/consent", form)).Query().Get("code")
		m := jsonBody(t, e.postForm("/token", tokenReq("", code, v, pubRedirect), "Authorization", basic(id, sec)))
		secrets = append(secrets, code, m["access_token"].(string), m["refresh_token"].(string))
		return m
	}
	m = grant()
	rt1 := m["refresh_token"].(string)
	m2 := jsonBody(t, e.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, "Authorization", basic(id, sec)))
	secrets = append(secrets, m2["access_token"].(string), m2["refresh_token"].(string))
	e.postForm("/revoke", url.Values{"token": {m2["access_token"].(string)}}, "Authorization", basic(id, sec))
	// rt2 is used, so rt1 again is reuse even within the retry window.
	m3 := jsonBody(t, e.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m2["refresh_token"].(string)}}, "Authorization", basic(id, sec)))
	secrets = append(secrets, m3["access_token"].(string), m3["refresh_token"].(string))
	e.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, "Authorization", basic(id, sec))
	m = grant()
	e.postForm("/revoke", url.Values{"token": {m["refresh_token"].(string)}}, "Authorization", basic(id, sec))
	form, _ = loginFlow(t, e, b, authzQuery(id, pubRedirect, v))
	form.Set("decision", "deny")
	b.post(e.issuer+"/consent", form)

	h.mu.Lock()
	defer h.mu.Unlock()
	var types []mcpauth.EventType
	for _, ev := range h.events {
		if !slices.Contains(types, ev.Type) {
			types = append(types, ev.Type)
		}
		if ev.ID == "" || !ev.Time.Equal(testEpoch) {
			t.Errorf("event %s: id %q, time %v, want an id and the server clock", ev.Type, ev.ID, ev.Time)
		}
		if ev.Type != mcpauth.EventClientRegistered && ev.ClientID != id {
			t.Errorf("event %s: client_id %q, want %q", ev.Type, ev.ClientID, id)
		}
		raw, _ := json.Marshal(ev)
		for _, s := range secrets {
			if s != "" && strings.Contains(string(raw), s) {
				t.Errorf("event %s carries a secret: %s", ev.Type, raw)
			}
		}
	}
	for _, want := range []mcpauth.EventType{mcpauth.EventClientRegistered, mcpauth.EventConsentGranted, mcpauth.EventTokenIssued,
		mcpauth.EventCodeReplayDetected, mcpauth.EventTokenRefreshed, mcpauth.EventTokenRevoked, mcpauth.EventRefreshReuseDetected,
		mcpauth.EventGrantRevoked, mcpauth.EventConsentDenied} {
		if !slices.Contains(types, want) {
			t.Errorf("no %s event (got %v)", want, types)
		}
	}
	// Logs carry no secret either.
	logs := e.logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("logs carry a secret %.12s…", s)
		}
	}
}
