package mcpauth_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store"
)

const machineSecret = "machine-secret-0123456789"

func withMachine(c *mcpauth.Config) {
	c.StaticClients = append(c.StaticClients, store.Client{
		ID:             "machine",
		ClientSecret:   machineSecret,
		ClientMetadata: store.ClientMetadata{GrantTypes: []string{"client_credentials"}, Scope: "read write"},
	})
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t, withMachine)
	cc := func(id, secret string, extra url.Values) *http.Response {
		return e.postForm("/token", merge(url.Values{"grant_type": {"client_credentials"}}, extra), "Authorization", basic(id, secret))
	}
	resp := cc("machine", machineSecret, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("client_credentials: %d %s", resp.StatusCode, peek(resp))
	}
	got := jsonBody(t, resp)
	if _, ok := got["refresh_token"]; ok {
		t.Error("client_credentials issued a refresh token (OAuth 2.1 §4.2.2)")
	}
	tok := got["access_token"].(string)
	_, c := jwtParts(t, tok)
	if c["sub"] != "machine" || c["client_id"] != "machine" || got["scope"] != "read write" {
		t.Errorf("claims sub %v client_id %v, scope %v", c["sub"], c["client_id"], got["scope"])
	}
	if !e.active(tok) {
		t.Error("the machine token is not active")
	}
	if r := e.postForm("/revoke", url.Values{"token": {tok}}, "Authorization", basic("machine", machineSecret)); r.StatusCode != http.StatusOK || e.active(tok) {
		t.Error("the machine token could not be revoked")
	}
	if got := jsonBody(t, cc("machine", machineSecret, url.Values{"scope": {"read"}, "resource": {resourceB}})); got["scope"] != "read" {
		t.Errorf("narrower scope: %v", got)
	} else if _, c := jwtParts(t, got["access_token"].(string)); c["aud"] != resourceB {
		t.Errorf("aud = %v, want %s", c["aud"], resourceB)
	}

	tests := []struct {
		name, id, secret string
		extra            url.Values
		want             string
		status           int
	}{
		{"wider scope", "machine", machineSecret, url.Values{"scope": {"read admin"}}, "invalid_scope", 400},
		{"unknown resource", "machine", machineSecret, url.Values{"resource": {"https://elsewhere.example/mcp"}}, "invalid_target", 400},
		{"wrong secret", "machine", "wrong-secret-0123456789", nil, "invalid_client", 401},
		{"confidential client without the grant", "conf", confSecret, nil, "unauthorized_client", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, desc, status := errorOf(t, cc(tc.id, tc.secret, tc.extra)); code != tc.want || status != tc.status {
				t.Errorf("got %d %s %q, want %d %s", status, code, desc, tc.status, tc.want)
			}
		})
	}
	// A public client cannot use it either.
	r := e.postForm("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"pub"}})
	if code, _, _ := errorOf(t, r); code != "unauthorized_client" {
		t.Errorf("public client: %s", code)
	}
}

// Anyone can register, so registration never grants client_credentials.
func TestRegistrationRefusesClientCredentials(t *testing.T) {
	e := newEnv(t, withMachine)
	for _, gts := range [][]string{{"client_credentials"}, {"authorization_code", "client_credentials"}} {
		resp := e.postJSON("/register", map[string]any{"redirect_uris": []string{pubRedirect}, "grant_types": gts,
			"token_endpoint_auth_method": "client_secret_basic"})
		if code, desc, status := errorOf(t, resp); code != "invalid_client_metadata" || status != 400 || !strings.Contains(desc, "client_credentials") {
			t.Errorf("%v: %d %s %q", gts, status, code, desc)
		}
	}
}

func TestClientCredentialsAdvertisedOnlyWhenConfigured(t *testing.T) {
	for _, on := range []bool{true, false} {
		var edits []func(*mcpauth.Config)
		if on {
			edits = append(edits, withMachine)
		}
		e := newEnv(t, edits...)
		md := jsonBody(t, e.get("/.well-known/oauth-authorization-server"))
		if adv := slices.Contains(toStrings(md["grant_types_supported"]), "client_credentials"); adv != on {
			t.Errorf("configured %v: advertised %v", on, adv)
		}
		if !on {
			r := e.postForm("/token", url.Values{"grant_type": {"client_credentials"}}, "Authorization", basic("conf", confSecret))
			if code, _, _ := errorOf(t, r); code != "unsupported_grant_type" {
				t.Errorf("without machine clients: %s", code)
			}
		}
	}
}
