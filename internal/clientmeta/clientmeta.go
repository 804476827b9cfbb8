// Package clientmeta checks RFC 7591 §2 client metadata
// ([store.ClientMetadata], the one type for what a client registers by
// dynamic registration, RFC 7591 §3.1, or publishes in a client ID metadata
// document, draft-ietf-oauth-client-id-metadata-document §4.1): the one
// validator both share. What differs stays with the caller:
// which redirect URIs, authentication methods and grant types are allowed.
package clientmeta

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/mcpauth/mcpauth/internal/display"
	"github.com/mcpauth/mcpauth/store"
)

// Bounds on client metadata.
const (
	MaxRedirectURIs = 20
	MaxNameLength   = 200 // client_name, software_id
	MaxURILength    = 2048
	MaxContacts     = 10
	maxContact      = 320 // an email address (RFC 5321 §4.5.3.1)
	maxVersion      = 100
	maxScope        = 4096
)

// Source is where metadata comes from; the two differ in what they require.
type Source int

const (
	// Registration is a dynamic registration request (RFC 7591 §3.1).
	// client_name is optional; URLs may be http on a loopback host.
	Registration Source = iota
	// Document is a client ID metadata document: client_name is required,
	// URLs are https.
	Document
)

// CheckRedirectURIs requires 1 to [MaxRedirectURIs] redirect URIs, each
// accepted by check. Every error it returns is about redirect_uris (RFC
// 7591 §3.2.2 invalid_redirect_uri).
func CheckRedirectURIs(m *store.ClientMetadata, check func(string) error) error {
	if len(m.RedirectURIs) == 0 {
		return errors.New("redirect_uris is required and must not be empty")
	}
	if len(m.RedirectURIs) > MaxRedirectURIs {
		return fmt.Errorf("at most %d redirect_uris are allowed", MaxRedirectURIs)
	}
	for _, r := range m.RedirectURIs {
		if err := check(r); err != nil {
			return fmt.Errorf("redirect URI %q: %v", Truncate(r, 100), err)
		}
	}
	return nil
}

// CheckDescription checks what describes the client to the user and is
// kept as sent: client_name (required in a Document), client_uri,
// logo_uri, tos_uri, policy_uri, contacts, software_id, software_version,
// the scope text and application_type. Everything the consent page may show
// is bounded and free of control and bidi formatting characters, which
// could disguise it (see package display). The error names the field.
func CheckDescription(m *store.ClientMetadata, src Source) error {
	switch {
	case src == Document && strings.TrimSpace(m.Name) == "":
		return errors.New("the client metadata document has no client_name")
	case !displayable(m.Name, MaxNameLength):
		return fmt.Errorf("client_name must be at most %d printable characters", MaxNameLength)
	}
	for _, f := range []struct{ name, v string }{
		{"client_uri", m.ClientURI}, {"logo_uri", m.LogoURI}, {"tos_uri", m.TOSURI}, {"policy_uri", m.PolicyURI},
	} {
		if f.v != "" && !webURL(f.v, src == Registration) {
			return fmt.Errorf("%s must be an https URL", f.name)
		}
	}
	if !displayable(m.Scope, maxScope) {
		return errors.New("scope is too long or contains control characters")
	}
	if len(m.Contacts) > MaxContacts {
		return fmt.Errorf("at most %d contacts are allowed", MaxContacts)
	}
	for _, c := range m.Contacts {
		if !displayable(c, maxContact) {
			return errors.New("contacts must be short printable strings")
		}
	}
	if !displayable(m.SoftwareID, MaxNameLength) || !displayable(m.SoftwareVersion, maxVersion) {
		return errors.New("software_id or software_version is too long or contains control characters")
	}
	switch m.ApplicationType {
	case "", "web", "native":
	default:
		return errors.New("application_type must be web or native")
	}
	return nil
}

// displayable: at most n bytes of valid UTF-8 without control or
// formatting characters (bidi overrides such as U+202E could reorder what
// the consent page shows).
func displayable(s string, n int) bool {
	return len(s) <= n && display.Safe(s)
}

// webURL: an absolute https URL (or, with loopbackHTTP, http on a loopback
// host) with a host, no user info, bounded length.
func webURL(s string, loopbackHTTP bool) bool {
	if len(s) > MaxURILength || strings.ContainsAny(s, " \t\r\n\\<>\"") || !display.Safe(s) {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	return u.Scheme == "https" || loopbackHTTP && u.Scheme == "http" && IsLoopbackHost(u.Hostname())
}

// IsLoopbackHost reports whether host is localhost or a loopback IP.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Truncate shortens s to at most n bytes (on a rune boundary) plus "…",
// for quoting client input in error descriptions.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
