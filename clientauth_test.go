package mcpauth_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

// register makes a client through POST /register and returns its id and secret.
func (e *env) register(method string) (id, sec string) {
	e.t.Helper()
	resp := e.postJSON("/register", map[string]any{"redirect_uris": []string{pubRedirect}, "token_endpoint_auth_method": method})
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("register %s: %d %s", method, resp.StatusCode, peek(resp))
	}
	m := jsonBody(e.t, resp)
	id, _ = m["client_id"].(string)
	sec, _ = m["client_secret"].(string)
	return id, sec
}

// TestClientAuthMethodEnforced: a client authenticates only with its
// registered token_endpoint_auth_method (RFC 7591 §2), at every endpoint
// that authenticates clients. The secret is right in every case; only the
// channel differs. The old code accepted either channel.
func TestClientAuthMethodEnforced(t *testing.T) {
	e := newEnv(t)
	basicID, basicSec := e.register("client_secret_basic")
	postID, postSec := e.register("client_secret_post")
	defaultID, defaultSec := e.register("") // RFC 7591 §2 default: client_secret_basic

	viaBasic := func(id, sec string) (url.Values, []string) {
		return url.Values{}, []string{"Authorization", basic(id, sec)}
	}
	viaPost := func(id, sec string) (url.Values, []string) {
		return url.Values{"client_id": {id}, "client_secret": {sec}}, nil
	}
	// Each endpoint's request, whose answer after successful client
	// authentication is known: /token gets as far as the grant.
	endpoints := []struct {
		path   string
		form   url.Values
		status int
	}{
		{"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt_unknown"}}, 400},
		{"/introspect", url.Values{"token": {"rt_unknown"}}, 200},
		{"/revoke", url.Values{"token": {"rt_unknown"}}, 200},
	}
	tests := []struct {
		name      string
		id, sec   string
		send      func(id, sec string) (url.Values, []string)
		ok        bool
		challenge bool // WWW-Authenticate: Basic expected on the 401
	}{
		{"registered basic, sends basic", basicID, basicSec, viaBasic, true, false},
		{"registered basic, sends post", basicID, basicSec, viaPost, false, true},
		{"registered post, sends post", postID, postSec, viaPost, true, false},
		{"registered post, sends basic", postID, postSec, viaBasic, false, true},
		{"registered with the default, sends post", defaultID, defaultSec, viaPost, false, true},
		{"registered with the default, sends basic", defaultID, defaultSec, viaBasic, true, false},
		{"static, no method (basic), sends post", "conf", confSecret, viaPost, false, true},
		{"static, no method (basic), sends basic", "conf", confSecret, viaBasic, true, false},
		{"static post, sends basic", "confpost", confSecret, viaBasic, false, true},
		{"static post, sends post", "confpost", confSecret, viaPost, true, false},
	}
	for _, ep := range endpoints {
		for _, tt := range tests {
			t.Run(strings.TrimPrefix(ep.path, "/")+"/"+tt.name, func(t *testing.T) {
				cred, hdr := tt.send(tt.id, tt.sec)
				form := merge(ep.form, cred)
				resp := e.postForm(ep.path, form, hdr...)
				if tt.ok {
					if resp.StatusCode != ep.status {
						t.Fatalf("got %d, want %d (%s)", resp.StatusCode, ep.status, peek(resp))
					}
					if code, _ := jsonBody(t, resp)["error"].(string); code == "invalid_client" {
						t.Fatalf("rejected: %s", peek(resp))
					}
					return
				}
				if code, status := oauthError(t, resp); code != "invalid_client" || status != 401 {
					t.Fatalf("got (%q, %d), want (invalid_client, 401): %s", code, status, peek(resp))
				}
				if got := resp.Header.Get("WWW-Authenticate"); tt.challenge != strings.HasPrefix(got, "Basic ") {
					t.Errorf("WWW-Authenticate %q, want Basic challenge %v", got, tt.challenge)
				}
				if d := errDesc(t, resp); !strings.Contains(d, "client_secret_") {
					t.Errorf("description %q does not name the registered method", d)
				}
			})
		}
	}
	// A wrong secret in the wrong channel learns nothing about the method.
	resp := e.postForm("/introspect", url.Values{"token": {"x"}, "client_id": {basicID}, "client_secret": {"wrong"}})
	if d := errDesc(t, resp); resp.StatusCode != 401 || strings.Contains(d, "client_secret_") {
		t.Errorf("wrong secret: %d %q, want 401 without the registered method", resp.StatusCode, d)
	}
}

// TestStaticClientAuthMethodConfig: a static client's method must be one the
// server serves and agree with its secret, since it is the only one accepted.
func TestStaticClientAuthMethodConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client store.Client
	}{
		{"secret with none", store.Client{ID: "a", ClientSecret: "s", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{pubRedirect}, TokenEndpointAuthMethod: "none"}}},
		{"unsupported method", store.Client{ID: "a", ClientSecret: "s", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{pubRedirect}, TokenEndpointAuthMethod: "tls_client_auth"}}},
		{"private_key_jwt with a secret", store.Client{ID: "a", ClientSecret: "s", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{pubRedirect}, TokenEndpointAuthMethod: "private_key_jwt"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mcpauth.NewServer(mcpauth.Config{Issuer: testIssuer, Scopes: []string{"read"}, Authenticator: mcpauthtest.AutoApprove("u"),
				StaticClients: []store.Client{tc.client}, Logger: discard})
			var ce *mcpauth.ConfigError
			if !errors.As(err, &ce) || ce.Field != "StaticClients" {
				t.Fatalf("got %v, want a StaticClients ConfigError", err)
			}
		})
	}
}
