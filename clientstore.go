package mcpauth

// This file resolves a client_id to its client (RFC 6749 §2.2): the
// operator's static clients first, then a client ID metadata document for an
// https client_id (cimd.go), then the ClientStore (dynamic registration,
// RFC 7591), which the server wraps with deadlines and idle expiry
// (storewrap.go).

import (
	"context"
	"errors"
	"strings"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/store"
)

// getClient finds a static or registered client; unknown → invalid_client.
func (s *Server) getClient(ctx context.Context, id string) (*store.Client, error) {
	// HTTP Basic credentials bypass readParams: bad bytes stop here too.
	if !cleanText(id) {
		return nil, oauth.InvalidRequest("client_id is not valid UTF-8 or contains NUL")
	}
	if c, ok := s.static[id]; ok {
		cp := *c
		return &cp, nil
	}
	if s.cimdEnabled() && strings.HasPrefix(id, "https://") {
		return s.clientFromMetadataDocument(ctx, id)
	}
	if len(id) > 256 {
		return nil, oauth.InvalidClient("unknown client")
	}
	c, err := s.clients.GetClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, oauth.InvalidClient("unknown client")
	case err != nil:
		return nil, storeErr(err)
	}
	return c, nil
}
