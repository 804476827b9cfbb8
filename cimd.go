package mcpauth

// This file implements OAuth Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document) for the authorization
// endpoint.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/mcpauth/mcpauth/internal/cimd"
	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/store"
)

// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-
// document-00, required of MCP authorization servers from 2025-11-25): a
// client_id that is an https URL names a JSON document of RFC 7591 client
// metadata that we fetch, validate and cache instead of requiring
// registration. Such clients are always public (no secret can be shared
// through a public document) and are never stored; every lookup goes
// through the fetcher's cache, so a changed document takes effect when its
// cache entry expires.

// cimdClients is the Server's CIMD state. The zero value is ready; the
// fetcher is built on first use.
type cimdClients struct {
	once    sync.Once
	fetcher *cimd.Fetcher
	// testOptions, set by tests before the first request, adjusts the
	// fetcher options (to reach an httptest server on loopback). Production
	// code never sets it: the fetcher's strict defaults apply.
	testOptions func(*cimd.Options)
}

// cimdFetcher returns the server's fetcher, creating it on first use.
func (s *Server) cimdFetcher() *cimd.Fetcher {
	s.cimd.once.Do(func() {
		opts := cimd.Options{
			ValidateRedirectURI: s.cimdRedirectURI,
			Logger:              s.log,
			Now:                 s.now,
		}
		if s.cimd.testOptions != nil {
			s.cimd.testOptions(&opts)
		}
		s.cimd.fetcher = cimd.NewFetcher(opts)
	})
	return s.cimd.fetcher
}

// cimdEnabled reports whether client_id URLs are resolved (the default).
func (s *Server) cimdEnabled() bool { return !s.cfg.DisableClientIDMetadataDocuments }

// cimdRedirectURI applies the registration rules to a document's redirect
// URIs: OAuth 2.1 §2.3.1 / RFC 8252 (validRedirectURI) and the operator's
// AllowedRedirectURIs.
func (s *Server) cimdRedirectURI(u string) error {
	if err := validRedirectURI(u); err != nil {
		return err
	}
	if len(s.cfg.AllowedRedirectURIs) > 0 && !matchRedirectURI(s.cfg.AllowedRedirectURIs, u) {
		return errors.New("is not allowed by this server")
	}
	return nil
}

// clientFromMetadataDocument resolves an https client_id by fetching its
// client ID metadata document (draft §4): the document's client_id must
// equal the URL (§4.1), and it must carry client_name and redirect_uris,
// against which the authorization request's redirect_uri is then matched
// (validateClientRedirect). Failures are invalid_client, never a 5xx: the
// client's document, not this server, is at fault.
func (s *Server) clientFromMetadataDocument(ctx context.Context, clientID string) (*store.Client, error) {
	if !s.cimdEnabled() {
		return nil, oauth.InvalidClient("unknown client")
	}
	doc, err := s.cimdFetcher().Get(ctx, clientID)
	if err != nil {
		return nil, cimdError(err)
	}
	c := &store.Client{ClientMetadata: doc.ClientMetadata.Clone()}
	c.ID, c.TokenEndpointAuthMethod, c.Scope = doc.ClientID, "none", s.cimdScope(doc.Scope)
	if c.ApplicationType == "" {
		c.ApplicationType = "web"
		if allNative(c.RedirectURIs) {
			c.ApplicationType = "native"
		}
	}
	return c, nil
}

// cimdScope keeps the document's scopes that this server serves. A document
// is portable across authorization servers and may list scopes of others;
// when it names none of ours, it does not restrict the client (requests are
// still limited to scopes_supported and shown on the consent page).
func (s *Server) cimdScope(raw string) string {
	var kept []string
	configured := false
	for _, sc := range parseScope(raw) {
		if s.scopeSupported(sc) && !slices.Contains(kept, sc) {
			kept = append(kept, sc)
			configured = configured || s.scopes[sc]
		}
	}
	if !configured {
		return ""
	}
	return strings.Join(kept, " ")
}

// cimdError maps a fetch or validation failure to invalid_client with a
// description the client developer can act on; causes go to the logs.
func cimdError(err error) *oauth.Error {
	var ce *cimd.Error
	if !errors.As(err, &ce) {
		return oauth.InvalidClient("could not fetch the client metadata document").WithCause(err)
	}
	desc := ce.Description
	if ce.Kind == cimd.KindInvalidDocument {
		desc = "invalid client metadata document: " + desc
	}
	return oauth.InvalidClient("%s", desc).WithCause(err)
}
