package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// MetadataURL returns the RFC 8414 §3.1 metadata URL of issuer: the
// well-known suffix is inserted between the host and the path, so
// https://as.example/tenant1 gives
// https://as.example/.well-known/oauth-authorization-server/tenant1.
func MetadataURL(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("jwks: issuer %q is not an absolute URL", issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("jwks: issuer %q has a query or fragment", issuer)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	return u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path, nil
}

// FallbackURL is where a JWK Set is looked for when the issuer publishes
// no metadata: {issuer}/.well-known/jwks.json.
func FallbackURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/jwks.json"
}

// discover reads jwks_uri from the issuer's RFC 8414 metadata.
func (s *Set) discover(ctx context.Context) (string, error) {
	issuer := s.opts.Issuer
	mdURL, err := MetadataURL(issuer)
	if err != nil {
		return "", err
	}
	body, _, err := s.get(ctx, mdURL, "application/json")
	if errors.Is(err, errNotFound) {
		return FallbackURL(issuer), nil
	}
	if err != nil {
		return "", fmt.Errorf("authorization server metadata: %w", err)
	}
	var md struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &md); err != nil {
		return "", fmt.Errorf("authorization server metadata: %v", err)
	}
	// RFC 8414 §3.3: the issuer in the document must be identical to the
	// one the URL was built from.
	if md.Issuer != issuer {
		return "", fmt.Errorf("authorization server metadata: issuer %q does not match %q", md.Issuer, issuer)
	}
	if md.JWKSURI == "" {
		return FallbackURL(issuer), nil
	}
	if err := checkFetchURL(md.JWKSURI); err != nil {
		return "", fmt.Errorf("authorization server metadata: jwks_uri: %v", err)
	}
	return md.JWKSURI, nil
}

// checkFetchURL accepts https URLs, and http ones on loopback hosts.
func checkFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q is not https", raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
