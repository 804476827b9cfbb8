package store

// This file defines registered clients (RFC 7591 §2 metadata) and the
// ClientStore that keeps them.

import (
	jose "github.com/go-jose/go-jose/v4"

	"context"
	"slices"
	"sync"
	"time"
)

// ClientMetadata is RFC 7591 §2 client metadata: what a client registers
// (dynamic registration, RFC 7591 §3.1) or publishes (a client ID metadata
// document, draft-ietf-oauth-client-id-metadata-document §4.1). The field
// order is the order of the RFC 7591 §3.2.1 registration response. One
// validator checks it wherever it comes from (the server's internal
// clientmeta package).
type ClientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ApplicationType         string   `json:"application_type"`
	Name                    string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	Contacts                []string `json:"contacts,omitempty"`
	TOSURI                  string   `json:"tos_uri,omitempty"`
	PolicyURI               string   `json:"policy_uri,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
}

// Clone returns a copy of m that shares no slices with it.
func (m *ClientMetadata) Clone() ClientMetadata {
	c := *m
	c.RedirectURIs = slices.Clone(m.RedirectURIs)
	c.GrantTypes = slices.Clone(m.GrantTypes)
	c.ResponseTypes = slices.Clone(m.ResponseTypes)
	c.Contacts = slices.Clone(m.Contacts)
	return c
}

// Client is a registered OAuth client: its RFC 7591 §2 metadata plus what
// the server assigned. The secret is kept only as a digest.
//
// TokenEndpointAuthMethod is the only way the client may authenticate at
// /token, /introspect and /revoke (RFC 7591 §2): none (public),
// client_secret_basic (HTTP Basic) or client_secret_post (the body). A
// static client with a ClientSecret and no method gets the RFC 7591 §2
// default, client_secret_basic.
type Client struct {
	ID string `json:"client_id"`
	// SecretDigest is SHA-256 of the client secret; empty for public clients.
	SecretDigest    []byte    `json:"secret_digest,omitempty"`
	SecretExpiresAt time.Time `json:"secret_expires_at,omitzero"`
	IssuedAt        time.Time `json:"issued_at"`

	ClientMetadata

	// LastUsedAt is when the server last looked the client up for a request,
	// updated at most once a day; a dynamically registered client unused for
	// Config.ClientIdleExpiry is deleted. Zero means IssuedAt.
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// RegistrationTokenDigest is SHA-256 of the RFC 7592 registration
	// access token of a dynamically registered client; empty otherwise.
	RegistrationTokenDigest []byte `json:"registration_token_digest,omitempty"`
	// ClientSecret is set only on pre-registered clients in Config.StaticClients
	// (NewServer digests it); stores never see it.
	ClientSecret string `json:"-"`
	// JWKS or JWKSURI hold the public keys of a pre-registered client that
	// authenticates with private_key_jwt (RFC 7523 §2.2; RFC 7591 §2 jwks,
	// jwks_uri). Config.StaticClients only.
	JWKS    *jose.JSONWebKeySet `json:"-"`
	JWKSURI string              `json:"-"`
}

// IsPublic reports whether the client authenticates with "none".
func (c *Client) IsPublic() bool { return c.TokenEndpointAuthMethod == "none" }

// HasGrantType reports whether the client registered grant type gt.
func (c *Client) HasGrantType(gt string) bool {
	for _, g := range c.GrantTypes {
		if g == gt {
			return true
		}
	}
	return false
}

// ClientStore keeps registered clients: a get/set/delete, so any key-value
// store fits.
type ClientStore interface {
	// GetClient returns ErrNotFound for an unknown id.
	GetClient(ctx context.Context, id string) (*Client, error)
	// SetClient creates or replaces the client with c.ID.
	SetClient(ctx context.Context, c *Client) error
	// DeleteClient reports whether a client was deleted.
	DeleteClient(ctx context.Context, id string) (bool, error)
	ClientLister
}

// ClientSweeper is implemented by client stores that can list clients by
// last use. The server calls it periodically to delete dynamically
// registered clients (RFC 7591) unused since before; stores without it still
// lose such clients, lazily, when they are next looked up.
type ClientSweeper interface {
	// DeleteUnusedClients deletes at most limit clients whose LastUsedAt
	// (IssuedAt when unset) is before `before`, and reports how many.
	// Clients with neither time set are kept.
	DeleteUnusedClients(ctx context.Context, before time.Time, limit int) (int, error)
}

// memClientStore is a ClientStore in process memory.
type memClientStore struct {
	mu      sync.RWMutex
	clients map[string]*Client
}

// NewMemoryClientStore returns an empty in-memory client store; it is a
// [ClientSweeper] too.
func NewMemoryClientStore() ClientStore {
	return &memClientStore{clients: make(map[string]*Client)}
}

// GetClient implements ClientStore.
func (s *memClientStore) GetClient(_ context.Context, id string) (*Client, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, ErrNotFound
	}
	return c.Clone(), nil
}

// SetClient implements ClientStore.
func (s *memClientStore) SetClient(_ context.Context, c *Client) error {
	cp := c.Clone()
	cp.ClientSecret = ""
	s.mu.Lock()
	s.clients[c.ID] = cp
	s.mu.Unlock()
	return nil
}

// DeleteClient implements ClientStore.
func (s *memClientStore) DeleteClient(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.clients[id]
	delete(s.clients, id)
	return ok, nil
}

// DeleteUnusedClients implements ClientSweeper.
func (s *memClientStore) DeleteUnusedClients(_ context.Context, before time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, c := range s.clients {
		if n >= limit {
			break
		}
		if last := c.LastUsed(); !last.IsZero() && last.Before(before) {
			delete(s.clients, id)
			n++
		}
	}
	return n, nil
}

// LastUsed is LastUsedAt, or IssuedAt for a client never looked up since.
func (c *Client) LastUsed() time.Time {
	if c.LastUsedAt.IsZero() {
		return c.IssuedAt
	}
	return c.LastUsedAt
}
