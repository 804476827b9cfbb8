package storetest

import (
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// fullClient returns a confidential client with every stored field set.
// Calling it twice with the same arguments gives equal, unshared values.
func fullClient(clientID string, now time.Time) *store.Client {
	return &store.Client{
		ID:                      clientID,
		SecretDigest:            []byte{0x00, 0x9f, 0xff, 0x10, 0x80, 0x00, 0x01, 0x02},
		SecretExpiresAt:         now.Add(90 * 24 * time.Hour),
		IssuedAt:                now.Add(-time.Minute),
		LastUsedAt:              now.Add(-30 * time.Second),
		RegistrationTokenDigest: []byte{0xfe, 0x00, 0x7f, 0x80, 0x01},
		ClientMetadata:          store.ClientMetadata{RedirectURIs: []string{"https://app.example.com/cb", "http://127.0.0.1/callback"}, GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "client_secret_basic", ApplicationType: "web", Name: "Exämple ✓ client", ClientURI: "https://app.example.com", LogoURI: "https://app.example.com/logo.png", Scope: "read write", Contacts: []string{"ops@example.com", "dev@example.com"}, TOSURI: "https://app.example.com/tos", PolicyURI: "https://app.example.com/privacy", SoftwareID: "4NRB1-0XZABZI9E6-5SM3R", SoftwareVersion: "2.1.0"},
	}
}

// publicClient returns a public client with every optional field empty.
func publicClient(clientID string, now time.Time) *store.Client {
	return &store.Client{
		ID:             clientID,
		IssuedAt:       now,
		ClientMetadata: store.ClientMetadata{RedirectURIs: []string{"http://127.0.0.1:33418/callback"}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none"},
	}
}

var clientTests = []testCase{
	{"GetUnknown", func(t *testing.T, e env) {
		_, err := e.Clients.GetClient(e.ctx, id("client"))
		wantErr(t, "GetClient(unknown)", err, store.ErrNotFound)
	}},
	{"RoundTrip", func(t *testing.T, e env) {
		now := e.now()
		for _, mk := range []func(string, time.Time) *store.Client{fullClient, publicClient} {
			cid := id("client")
			want := mk(cid, now)
			wantErr(t, "SetClient", e.Clients.SetClient(e.ctx, mk(cid, now)), nil)
			got, err := e.Clients.GetClient(e.ctx, cid)
			wantErr(t, "GetClient", err, nil)
			wantRecord(t, "GetClient", want, got)
		}
		allSet(t, fullClient("x", now), "ClientSecret", "JWKS", "JWKSURI") // configured clients only
	}},
	{"SetReplaces", func(t *testing.T, e env) {
		now := e.now()
		cid := id("client")
		wantErr(t, "SetClient", e.Clients.SetClient(e.ctx, fullClient(cid, now)), nil)
		// The replacement drops the secret and optional fields: a store
		// that merges instead of replacing keeps them and fails.
		repl := publicClient(cid, now.Add(time.Second))
		repl.RedirectURIs = []string{"http://localhost:9999/new"}
		wantErr(t, "SetClient(replace)", e.Clients.SetClient(e.ctx, repl), nil)
		got, err := e.Clients.GetClient(e.ctx, cid)
		wantErr(t, "GetClient", err, nil)
		wantRecord(t, "GetClient after replace", repl, got)
	}},
	{"Delete", func(t *testing.T, e env) {
		now := e.now()
		cid, other := id("client"), id("client")
		wantErr(t, "SetClient", e.Clients.SetClient(e.ctx, fullClient(cid, now)), nil)
		wantErr(t, "SetClient", e.Clients.SetClient(e.ctx, fullClient(other, now)), nil)
		ok, err := e.Clients.DeleteClient(e.ctx, cid)
		wantErr(t, "DeleteClient", err, nil)
		if !ok {
			t.Errorf("DeleteClient(existing) = false, want true")
		}
		_, err = e.Clients.GetClient(e.ctx, cid)
		wantErr(t, "GetClient(deleted)", err, store.ErrNotFound)
		ok, err = e.Clients.DeleteClient(e.ctx, cid)
		wantErr(t, "DeleteClient(again)", err, nil)
		if ok {
			t.Errorf("DeleteClient(deleted) = true, want false")
		}
		ok, err = e.Clients.DeleteClient(e.ctx, id("client"))
		wantErr(t, "DeleteClient(unknown)", err, nil)
		if ok {
			t.Errorf("DeleteClient(unknown) = true, want false")
		}
		got, err := e.Clients.GetClient(e.ctx, other)
		wantErr(t, "GetClient(other)", err, nil)
		wantRecord(t, "GetClient(other)", fullClient(other, now), got)
	}},
	{"Copies", func(t *testing.T, e env) {
		now := e.now()
		cid := id("client")
		in := fullClient(cid, now)
		wantErr(t, "SetClient", e.Clients.SetClient(e.ctx, in), nil)
		mutateClient(in)
		got, err := e.Clients.GetClient(e.ctx, cid)
		wantErr(t, "GetClient", err, nil)
		wantRecord(t, "GetClient after mutating the saved value", fullClient(cid, now), got)
		mutateClient(got)
		got, err = e.Clients.GetClient(e.ctx, cid)
		wantErr(t, "GetClient", err, nil)
		wantRecord(t, "GetClient after mutating a returned value", fullClient(cid, now), got)
	}},
}

// mutateClient scribbles over c in place, including its slices' elements.
func mutateClient(c *store.Client) {
	for _, s := range [][]string{c.RedirectURIs, c.GrantTypes, c.ResponseTypes, c.Contacts} {
		if len(s) > 0 {
			s[0] = "mutated"
		}
	}
	if len(c.SecretDigest) > 0 {
		c.SecretDigest[0] ^= 0xff
	}
	c.Name = "mutated"
}
