package mcpauth

// This file implements private_key_jwt client authentication (RFC 7523
// §2.2, §3; OpenID Connect Core §9) for pre-registered clients with a JWK
// Set: a signed assertion replaces the client secret.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/internal/secret"
	"github.com/mcpauth/mcpauth/store"
)

const (
	// authMethodPrivateKeyJWT is RFC 7591 §2's private_key_jwt.
	authMethodPrivateKeyJWT = "private_key_jwt"
	// clientAssertionTypeJWT is RFC 7523 §2.2's client_assertion_type.
	clientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// defaultMaxClientAssertionLifetime is Config.MaxClientAssertionLifetime's default.
	defaultMaxClientAssertionLifetime = 5 * time.Minute
)

// assertionAlgorithms are the JWS algorithms accepted in client assertions.
var assertionAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}

// checkAssertionKeys: a private_key_jwt client has exactly one key source
// and no secret.
func checkAssertionKeys(cl *store.Client) error {
	switch {
	case cl.ClientSecret != "":
		return errors.New("private_key_jwt clients have no ClientSecret")
	case (cl.JWKS == nil) == (cl.JWKSURI == ""):
		return errors.New("private_key_jwt needs JWKS or JWKSURI (one of them)")
	case cl.JWKS != nil && len(cl.JWKS.Keys) == 0:
		return errors.New("JWKS has no keys")
	case cl.JWKSURI != "":
		if u, err := url.Parse(cl.JWKSURI); err != nil || u.Scheme != "https" && !isLoopbackHost(u.Hostname()) {
			return fmt.Errorf("JWKSURI %q must be an https URL", cl.JWKSURI)
		}
	}
	return nil
}

// privateKeyJWTEnabled: some configured client authenticates this way.
func (s *Server) privateKeyJWTEnabled() bool {
	for _, c := range s.static {
		if c.TokenEndpointAuthMethod == authMethodPrivateKeyJWT {
			return true
		}
	}
	return false
}

// authenticateAssertion authenticates a client by its assertion (RFC 7523
// §3): iss = sub = the client, aud this server (its issuer or the
// endpoint's URL), a short exp, a jti used once across all replicas, and a
// signature by one of the client's keys.
func (s *Server) authenticateAssertion(r *http.Request, params url.Values) (*store.Client, error) {
	switch {
	case params.Get("client_assertion_type") != clientAssertionTypeJWT:
		return nil, oauth.InvalidClient("client_assertion_type must be %s", clientAssertionTypeJWT)
	case params.Get("client_assertion") == "":
		return nil, oauth.InvalidRequest("client_assertion is required with client_assertion_type")
	case len(params["client_assertion"]) > 1 || r.Header.Get("Authorization") != "" || params.Get("client_secret") != "":
		return nil, oauth.InvalidRequest("use one client authentication method")
	case len(params.Get("client_assertion")) > 8192:
		return nil, oauth.InvalidClient("the client assertion is too large")
	}
	tok, err := jwt.ParseSigned(params.Get("client_assertion"), assertionAlgorithms)
	if err != nil {
		return nil, oauth.InvalidClient("the client assertion is not a signed JWT with an accepted algorithm")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || unverified.Issuer == "" {
		return nil, oauth.InvalidClient("the client assertion has no iss")
	}
	client, ok := s.static[unverified.Issuer]
	if !ok || client.TokenEndpointAuthMethod != authMethodPrivateKeyJWT {
		return nil, oauth.InvalidClient("unknown client or bad credentials")
	}
	if id := params.Get("client_id"); id != "" && id != client.ID {
		return nil, oauth.InvalidClient("client_id does not match the client assertion")
	}
	keys, err := s.assertionKeys(r.Context(), client)
	if err != nil {
		return nil, err
	}
	var claims jwt.Claims
	verified := false
	for _, k := range keys.Keys {
		if len(tok.Headers) == 1 && tok.Headers[0].KeyID != "" && k.KeyID != "" && k.KeyID != tok.Headers[0].KeyID {
			continue
		}
		if tok.Claims(k.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, oauth.InvalidClient("the client assertion's signature does not verify with the client's keys")
	}
	now := s.now()
	auds := []string{s.cfg.Issuer, s.endpoint(pathToken), s.cfg.Issuer + strings.TrimPrefix(r.URL.Path, s.basePath)}
	switch {
	case claims.Issuer != client.ID || claims.Subject != client.ID:
		return nil, oauth.InvalidClient("the client assertion's iss and sub must both be the client_id")
	case !slices.ContainsFunc(auds, func(a string) bool { return claims.Audience.Contains(a) }):
		return nil, oauth.InvalidClient("the client assertion's aud must be this authorization server (%s)", s.cfg.Issuer)
	case claims.Expiry == nil:
		return nil, oauth.InvalidClient("the client assertion has no exp")
	case !now.Before(claims.Expiry.Time().Add(clockLeeway)):
		return nil, oauth.InvalidClient("the client assertion has expired")
	case claims.Expiry.Time().After(now.Add(s.cfg.MaxClientAssertionLifetime + clockLeeway)):
		return nil, oauth.InvalidClient("the client assertion's exp is more than %v away", s.cfg.MaxClientAssertionLifetime)
	case claims.NotBefore != nil && now.Add(clockLeeway).Before(claims.NotBefore.Time()):
		return nil, oauth.InvalidClient("the client assertion is not valid yet")
	case claims.IssuedAt != nil && now.Add(clockLeeway).Before(claims.IssuedAt.Time()):
		return nil, oauth.InvalidClient("the client assertion was issued in the future")
	case claims.ID == "" || len(claims.ID) > 256:
		return nil, oauth.InvalidClient("the client assertion needs a jti")
	}
	// Single use across replicas, until the assertion could no longer pass.
	switch err := s.grants.UseAssertion(r.Context(), secret.Digest(client.ID+"\x00"+claims.ID), claims.Expiry.Time().Add(clockLeeway)); {
	case errors.Is(err, store.ErrConflict):
		return nil, oauth.InvalidClient("the client assertion was already used (jti replay)")
	case err != nil:
		return nil, storeErr(err)
	}
	return client, nil
}

// assertionKeys returns the client's JWK Set: inline, or fetched from its
// jwks_uri (at most 1 MiB, within the store timeout).
func (s *Server) assertionKeys(ctx context.Context, client *store.Client) (*jose.JSONWebKeySet, error) {
	if client.JWKS != nil {
		return client.JWKS, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, client.JWKSURI, nil)
	if err != nil {
		return nil, oauth.ServerError("the client's jwks_uri is unusable").WithCause(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, oauth.TemporarilyUnavailable(5*time.Second, "the client's keys cannot be fetched; retry shortly").WithCause(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(body, &set)
	} else if err == nil {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	if err != nil {
		return nil, oauth.TemporarilyUnavailable(5*time.Second, "the client's keys cannot be fetched; retry shortly").WithCause(err)
	}
	return &set, nil
}
