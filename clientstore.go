package mcpauth

// This file defines registered clients (RFC 7591 §2 metadata) and the
// ClientStore that keeps them.

import (
	"context"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpauth/mcpauth/internal/clientmeta"
)

// Client is a registered OAuth client (RFC 7591 §2 metadata plus what the
// server assigned). The secret is kept only as a digest.
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

	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	ApplicationType         string   `json:"application_type,omitempty"`
	Name                    string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	Contacts                []string `json:"contacts,omitempty"`
	TOSURI                  string   `json:"tos_uri,omitempty"`
	PolicyURI               string   `json:"policy_uri,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
	// LastUsedAt is when the server last looked the client up for a request,
	// updated at most once a day; a dynamically registered client unused for
	// Config.ClientIdleExpiry is deleted. Zero means IssuedAt.
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// ClientSecret is set only on pre-registered clients in Config.StaticClients
	// (NewServer digests it); stores never see it.
	ClientSecret string `json:"-"`
	// JWKS or JWKSURI hold the public keys of a pre-registered client that
	// authenticates with private_key_jwt (RFC 7523 §2.2; RFC 7591 §2 jwks,
	// jwks_uri). Config.StaticClients only.
	JWKS    *jose.JSONWebKeySet `json:"-"`
	JWKSURI string              `json:"-"`
}

// metadata is the client's RFC 7591 §2 metadata.
func (c *Client) metadata() clientmeta.Metadata {
	return clientmeta.Metadata{
		RedirectURIs: c.RedirectURIs, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		GrantTypes: c.GrantTypes, ResponseTypes: c.ResponseTypes, ApplicationType: c.ApplicationType,
		ClientName: c.Name, ClientURI: c.ClientURI, LogoURI: c.LogoURI, Scope: c.Scope, Contacts: c.Contacts,
		TOSURI: c.TOSURI, PolicyURI: c.PolicyURI, SoftwareID: c.SoftwareID, SoftwareVersion: c.SoftwareVersion,
	}
}

// clientFromMetadata is a client with m's metadata (and nothing assigned).
func clientFromMetadata(m *clientmeta.Metadata) *Client {
	return &Client{
		RedirectURIs: slices.Clone(m.RedirectURIs), TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
		GrantTypes: slices.Clone(m.GrantTypes), ResponseTypes: slices.Clone(m.ResponseTypes), ApplicationType: m.ApplicationType,
		Name: m.ClientName, ClientURI: m.ClientURI, LogoURI: m.LogoURI, Scope: m.Scope, Contacts: slices.Clone(m.Contacts),
		TOSURI: m.TOSURI, PolicyURI: m.PolicyURI, SoftwareID: m.SoftwareID, SoftwareVersion: m.SoftwareVersion,
	}
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

// ClientStore keeps registered clients: the get/set/delete of the original
// package, so any key-value store fits.
type ClientStore interface {
	// GetClient returns ErrNotFound for an unknown id.
	GetClient(ctx context.Context, id string) (*Client, error)
	// SetClient creates or replaces the client with c.ID.
	SetClient(ctx context.Context, c *Client) error
	// DeleteClient reports whether a client was deleted.
	DeleteClient(ctx context.Context, id string) (bool, error)
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
	return cloneClient(c), nil
}

// SetClient implements ClientStore.
func (s *memClientStore) SetClient(_ context.Context, c *Client) error {
	cp := cloneClient(c)
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
		if last := c.lastUsed(); !last.IsZero() && last.Before(before) {
			delete(s.clients, id)
			n++
		}
	}
	return n, nil
}

// lastUsed is LastUsedAt, or IssuedAt for a client never looked up since.
func (c *Client) lastUsed() time.Time {
	if c.LastUsedAt.IsZero() {
		return c.IssuedAt
	}
	return c.LastUsedAt
}
