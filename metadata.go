package mcpauth

// This file implements RFC 8414, OAuth 2.0 Authorization Server Metadata
// (and its OpenID Connect Discovery alias), and serves the JWK Set.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/mcpauth/mcpauth/internal/signing"
)

// ServerMetadata is the RFC 8414 §2 authorization server metadata document.
// Every field is derived from what the server actually serves.
//
// The same document answers at /.well-known/openid-configuration, where MCP
// clients also look (MCP 2025-11-25 §Authorization Server Metadata
// Discovery), but the server is no OpenID Provider: it issues no ID tokens
// and has no UserInfo endpoint, so it advertises none of OpenID Connect
// Discovery's ID-token fields (id_token_signing_alg_values_supported,
// subject_types_supported). MCP clients probe the RFC 8414 path first and
// stop at its 200; the go-sdk reads either document the same way.
type ServerMetadata struct {
	Issuer                                     string            `json:"issuer"`
	AuthorizationEndpoint                      string            `json:"authorization_endpoint"`
	TokenEndpoint                              string            `json:"token_endpoint"`
	JWKSURI                                    string            `json:"jwks_uri"`
	RegistrationEndpoint                       string            `json:"registration_endpoint,omitempty"`
	IntrospectionEndpoint                      string            `json:"introspection_endpoint"`
	RevocationEndpoint                         string            `json:"revocation_endpoint"`
	ScopesSupported                            []string          `json:"scopes_supported"`
	ResponseTypesSupported                     []string          `json:"response_types_supported"`
	ResponseModesSupported                     []string          `json:"response_modes_supported"`
	GrantTypesSupported                        []string          `json:"grant_types_supported"`
	CodeChallengeMethodsSupported              []string          `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported          []string          `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string          `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string          `json:"revocation_endpoint_auth_methods_supported"`
	AuthorizationResponseIssParameterSupported bool              `json:"authorization_response_iss_parameter_supported"`
	ResourceIndicatorsSupported                bool              `json:"resource_indicators_supported,omitempty"`
	ClientIDMetadataDocumentSupported          bool              `json:"client_id_metadata_document_supported"`
	ServiceDocumentation                       string            `json:"service_documentation,omitempty"`
	GrantexExtensions                          map[string]string `json:"grantex_extensions,omitempty"`
}

// Metadata returns the server's RFC 8414 metadata.
func (s *Server) Metadata() ServerMetadata {
	m := ServerMetadata{
		Issuer:                                     s.cfg.Issuer,
		AuthorizationEndpoint:                      s.endpoint(pathAuthorize),
		TokenEndpoint:                              s.endpoint(pathToken),
		JWKSURI:                                    s.authority.jwksURI(),
		IntrospectionEndpoint:                      s.endpoint(pathIntrospect),
		RevocationEndpoint:                         s.endpoint(pathRevoke),
		ScopesSupported:                            s.scopesSupported(),
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        []string{"authorization_code", "refresh_token"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		TokenEndpointAuthMethodsSupported:          []string{"client_secret_basic", "client_secret_post", "none"},
		IntrospectionEndpointAuthMethodsSupported:  []string{"client_secret_basic", "client_secret_post"},
		RevocationEndpointAuthMethodsSupported:     []string{"client_secret_basic", "client_secret_post", "none"},
		AuthorizationResponseIssParameterSupported: true,
		ResourceIndicatorsSupported:                len(s.cfg.Resources) > 0,
		ClientIDMetadataDocumentSupported:          s.cimdEnabled(),
	}
	if s.privateKeyJWTEnabled() {
		m.TokenEndpointAuthMethodsSupported = append(m.TokenEndpointAuthMethodsSupported, authMethodPrivateKeyJWT)
	}
	if s.clientCredentialsEnabled() {
		m.GrantTypesSupported = append(m.GrantTypesSupported, grantTypeClientCredentials)
	}
	if s.tokenExchangeEnabled() {
		m.GrantTypesSupported = append(m.GrantTypesSupported, grantTypeTokenExchange)
	}
	if s.cfg.AllowAnonymousIntrospection {
		m.IntrospectionEndpointAuthMethodsSupported = append(m.IntrospectionEndpointAuthMethodsSupported, "none")
	}
	if !s.cfg.DisableRegistration {
		m.RegistrationEndpoint = s.endpoint(pathRegister)
	}
	ext := map[string]string{}
	if s.cfg.Grantex.Client == nil {
		// Our own consent page is served (in managed mode Grantex hosts it).
		ext["consent_ui"] = s.endpoint(pathConsent)
	}
	s.extMu.Lock()
	for name, path := range s.extensions {
		ext[name] = s.endpoint(path)
	}
	s.extMu.Unlock()
	m.GrantexExtensions = ext
	return m
}

// scopesSupported lists the configured scopes plus offline_access, which
// asks for a refresh token (MCP 2026-07-28 §Refresh Tokens).
func (s *Server) scopesSupported() []string {
	out := slices.Clone(s.cfg.Scopes)
	if !slices.Contains(out, scopeOfflineAccess) {
		out = append(out, scopeOfflineAccess)
	}
	return out
}

// AddExtension advertises an extra endpoint the host serves below the
// issuer under grantex_extensions (e.g. "audit_stream" → "/events/stream").
// Advertise only what is actually served.
func (s *Server) AddExtension(name, path string) {
	s.extMu.Lock()
	defer s.extMu.Unlock()
	if s.extensions == nil {
		s.extensions = map[string]string{}
	}
	s.extensions[name] = path
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) error {
	m := s.Metadata()
	writeJSON(w, http.StatusOK, m, "public, max-age=300")
	return nil
}

// handleJWKS serves the RFC 7517 key set: the signing key and every previous
// key whose tokens may still be live.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.keys.JWKS(r.Context())
	if err != nil {
		return storeErr(err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(signing.JWKSMaxAge.Seconds())))
	w.WriteHeader(http.StatusOK) // explicit: routers may pre-set another status (gin's NoRoute: 404)
	_, _ = w.Write(doc)
	return nil
}

// writeJSON writes v with the given Cache-Control.
func writeJSON(w http.ResponseWriter, status int, v any, cacheControl string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", cacheControl)
	if cacheControl == "no-store" {
		h.Set("Pragma", "no-cache")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
