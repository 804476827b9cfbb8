package mcpauth

// This file implements RFC 7591, OAuth 2.0 Dynamic Client Registration.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/mcpauth/mcpauth/internal/clientmeta"
	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/secret"
	"github.com/mcpauth/mcpauth/store"
)

// maxRegistrationBody bounds POST /register bodies.
const maxRegistrationBody = 16 << 10

// registrationRequest is the RFC 7591 §2 client metadata we accept.
type registrationRequest struct {
	store.ClientMetadata
	// Fields we do not support are rejected rather than silently ignored.
	JWKSURI string          `json:"jwks_uri"`
	JWKS    json.RawMessage `json:"jwks"`
	// ClientID and ClientSecret are checked by an RFC 7592 §2.2 update
	// and ignored by registration.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// registrationResponse is the RFC 7591 §3.2.1 answer.
type registrationResponse struct {
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	// RFC 7592 §3: the client's configuration endpoint and (at registration
	// only: the server keeps its digest) the token that opens it.
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
	store.ClientMetadata
}

// handleRegister implements RFC 7591 dynamic client registration.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) error {
	req, err := decodeRegistration(r)
	if err != nil {
		return err
	}
	client, err := s.validateRegistration(req)
	if err != nil {
		return err
	}
	client.ID = uuid.NewString()
	client.IssuedAt = s.now().Truncate(time.Second)
	var plainSecret string
	if !client.IsPublic() {
		plainSecret = secret.New("")
		client.SecretDigest = secret.Sum(plainSecret)
	}
	regToken := secret.New("")
	client.RegistrationTokenDigest = secret.Sum(regToken)
	if err := s.clients.SetClient(r.Context(), client); err != nil {
		return storeErr(err)
	}
	s.emit(r.Context(), Event{Type: EventClientRegistered, ClientID: client.ID})
	resp := s.clientInformation(client, plainSecret)
	resp.RegistrationAccessToken = regToken
	writeJSON(w, http.StatusCreated, resp, "no-store")
	return nil
}

func decodeRegistration(r *http.Request) (*registrationRequest, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		return nil, oauth.InvalidClientMetadata("Content-Type must be application/json")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRegistrationBody+1))
	if oe := bodyTimeout(err); oe != nil {
		return nil, oe
	}
	if err != nil {
		return nil, oauth.InvalidRequest("could not read the request body")
	}
	if len(body) > maxRegistrationBody {
		return nil, oauth.InvalidClientMetadata("the registration request is larger than %d bytes", maxRegistrationBody)
	}
	// encoding/json would turn invalid UTF-8 into U+FFFD and accept \u0000:
	// neither may reach a store (RFC 8259 §8.1).
	if !utf8.Valid(body) {
		return nil, oauth.InvalidRequest("the registration request is not valid UTF-8")
	}
	var doc any
	if json.Unmarshal(body, &doc) == nil && hasNUL(doc) {
		return nil, oauth.InvalidRequest("the registration request contains NUL characters")
	}
	var req registrationRequest
	if err := json.Unmarshal(body, &req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, oauth.InvalidClientMetadata("field %q has the wrong type", te.Field)
		}
		return nil, oauth.InvalidClientMetadata("the body is not a JSON object")
	}
	return &req, nil
}

// hasNUL reports whether any string (key or value) in a decoded JSON value
// contains NUL.
func hasNUL(v any) bool {
	switch t := v.(type) {
	case string:
		return strings.ContainsRune(t, 0)
	case []any:
		for _, e := range t {
			if hasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range t {
			if strings.ContainsRune(k, 0) || hasNUL(e) {
				return true
			}
		}
	}
	return false
}

// validateRegistration checks every field (RFC 7591 §2, §3.2.2) and returns
// the client to store.
func (s *Server) validateRegistration(req *registrationRequest) (*store.Client, error) {
	err := clientmeta.CheckRedirectURIs(&req.ClientMetadata, func(u string) error {
		if err := validRedirectURI(u); err != nil {
			return err
		}
		if len(s.cfg.AllowedRedirectURIs) > 0 && !matchRedirectURI(s.cfg.AllowedRedirectURIs, u) {
			return errors.New("not allowed by this server")
		}
		return nil
	})
	if err != nil {
		return nil, oauth.InvalidRedirectURI("%v", err)
	}
	if req.JWKSURI != "" || len(req.JWKS) > 0 {
		return nil, oauth.InvalidClientMetadata("jwks and jwks_uri are not supported (no private_key_jwt)")
	}
	if err := clientmeta.CheckDescription(&req.ClientMetadata, clientmeta.Registration); err != nil {
		return nil, oauth.InvalidClientMetadata("%v", err)
	}
	c := &store.Client{ClientMetadata: req.ClientMetadata.Clone()}
	c.Scope = strings.Join(parseScope(req.Scope), " ")
	switch c.TokenEndpointAuthMethod {
	case "":
		c.TokenEndpointAuthMethod = "client_secret_basic" // RFC 7591 §2 default
	case "none", "client_secret_post", "client_secret_basic":
	default:
		return nil, oauth.InvalidClientMetadata("token_endpoint_auth_method %q is not supported; use none, client_secret_post or client_secret_basic", truncate(c.TokenEndpointAuthMethod, 50))
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{"authorization_code"}
	}
	for _, g := range c.GrantTypes {
		if g == grantTypeClientCredentials {
			return nil, oauth.InvalidClientMetadata("grant type client_credentials is only for clients the operator configures, not for registration")
		}
		if g != "authorization_code" && g != "refresh_token" {
			return nil, oauth.InvalidClientMetadata("grant type %q is not supported; use authorization_code and refresh_token", truncate(g, 50))
		}
	}
	if !slices.Contains(c.GrantTypes, "authorization_code") {
		return nil, oauth.InvalidClientMetadata("grant_types must include authorization_code")
	}
	c.GrantTypes = slices.Compact(slices.Sorted(slices.Values(c.GrantTypes)))
	if len(c.ResponseTypes) == 0 {
		c.ResponseTypes = []string{"code"}
	}
	for _, rt := range c.ResponseTypes {
		if rt != "code" {
			return nil, oauth.InvalidClientMetadata("response type %q is not supported; only code", truncate(rt, 50))
		}
	}
	c.ResponseTypes = []string{"code"}
	if c.ApplicationType == "" {
		c.ApplicationType = "web"
		if allNative(c.RedirectURIs) {
			c.ApplicationType = "native"
		}
	}
	for _, sc := range parseScope(c.Scope) {
		if !s.scopeSupported(sc) {
			return nil, oauth.InvalidClientMetadata("scope %q is not supported", truncate(sc, 50))
		}
	}
	return c, nil
}

// allNative: every redirect URI is loopback http or a private-use scheme.
func allNative(uris []string) bool {
	for _, u := range uris {
		if strings.HasPrefix(u, "https://") {
			return false
		}
	}
	return true
}

func (s *Server) scopeSupported(sc string) bool {
	return s.scopes[sc] || sc == scopeOfflineAccess
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s…", s[:n])
}
