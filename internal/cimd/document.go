// Package cimd fetches and validates OAuth Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document-00, "CIMD"): a client whose
// client_id is an https URL publishes its RFC 7591 metadata at that URL, and
// the authorization server dereferences it instead of requiring registration.
//
// The package has three parts: [ValidateURL] (the client identifier rules of
// §3), [Parse] (the document rules of §4.1), and [Fetcher], an SSRF-hardened
// HTTP client with a bounded cache honouring Cache-Control (§4.3, §6).
package cimd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpauth/mcpauth/internal/clientmeta"
	"github.com/mcpauth/mcpauth/internal/display"
	"github.com/mcpauth/mcpauth/store"
)

// Limits on client identifiers and document fields.
const (
	// MaxURLLength bounds a client_id URL. It ends up in codes, grants and
	// token claims, so it is kept well below typical URL limits.
	MaxURLLength = 1024
	// MaxRedirectURIs bounds redirect_uris (as for RFC 7591 registration).
	MaxRedirectURIs = clientmeta.MaxRedirectURIs
)

// Kind classifies an [Error].
type Kind int

// The kinds of failure: the identifier itself, retrieving it, or its content.
const (
	KindInvalidURL Kind = iota + 1
	KindFetch
	KindInvalidDocument
)

// Error is a failure to resolve a client_id URL. Description is written for
// the client developer and is safe to show; Err, when set, is the underlying
// cause (a network error, say) and belongs in logs only.
type Error struct {
	Kind        Kind
	Description string
	Err         error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Description + ": " + e.Err.Error()
	}
	return e.Description
}

func (e *Error) Unwrap() error { return e.Err }

func invalidURL(format string, args ...any) *Error {
	return &Error{Kind: KindInvalidURL, Description: fmt.Sprintf(format, args...)}
}

func invalidDoc(format string, args ...any) *Error {
	return &Error{Kind: KindInvalidDocument, Description: fmt.Sprintf(format, args...)}
}

func fetchErr(cause error, format string, args ...any) *Error {
	return &Error{Kind: KindFetch, Description: fmt.Sprintf(format, args...), Err: cause}
}

// ValidateURL applies the client identifier rules of draft-ietf-oauth-
// client-id-metadata-document-00 §3: the https scheme, a path component, no
// single-dot or double-dot path segments, no fragment, no user info. It also
// refuses over-long URLs, characters that are not allowed in a URI, and
// hosts that are IP literals of non-public addresses (see [AddressAllowed]).
func ValidateURL(raw string) (*url.URL, error) {
	return validateURL(raw, false)
}

func validateURL(raw string, allowLoopback bool) (*url.URL, error) {
	if raw == "" || len(raw) > MaxURLLength {
		return nil, invalidURL("the client_id URL must be 1 to %d characters", MaxURLLength)
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("\\<>\"{}|^`", c) >= 0 {
			return nil, invalidURL("the client_id URL contains characters not allowed in a URI")
		}
	}
	if !strings.HasPrefix(raw, "https://") {
		return nil, invalidURL("the client_id URL must use https (lower case)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, invalidURL("the client_id is not a valid URL")
	}
	if strings.Contains(raw, "#") {
		return nil, invalidURL("the client_id URL must not contain a fragment")
	}
	if u.User != nil {
		return nil, invalidURL("the client_id URL must not contain user info")
	}
	host := u.Hostname()
	if host == "" {
		return nil, invalidURL("the client_id URL needs a host")
	}
	if port := u.Port(); strings.HasSuffix(u.Host, ":") || port == "0" {
		return nil, invalidURL("the client_id URL has an invalid port")
	}
	if u.Opaque != "" || u.EscapedPath() == "" || u.EscapedPath() == "/" {
		return nil, invalidURL("the client_id URL must have a path (for example https://app.example/client.json)")
	}
	if lp := strings.ToLower(u.EscapedPath()); strings.Contains(lp, "%2f") || strings.Contains(lp, "%5c") {
		return nil, invalidURL("the client_id URL must not contain encoded slashes")
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		if isDotSegment(seg) {
			return nil, invalidURL("the client_id URL must not contain . or .. path segments")
		}
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if err := checkAddr(ip, allowLoopback); err != nil {
			return nil, invalidURL("the client_id URL names a non-public address")
		}
	}
	return u, nil
}

// isDotSegment reports "." and "..", including percent-encoded forms, which
// RFC 3986 §6.2.2.2 normalisation would turn into dot segments.
func isDotSegment(seg string) bool {
	s := strings.ReplaceAll(strings.ToLower(seg), "%2e", ".")
	return s == "." || s == ".."
}

// Document is a validated client ID metadata document: the RFC 7591 §2
// client metadata, normalised. TokenEndpointAuthMethod is always "none";
// GrantTypes and ResponseTypes hold only the values this package supports.
// A Document returned by a [Fetcher] is shared: do not modify it.
type Document struct {
	ClientID string
	store.ClientMetadata
}

// wireDocument is the JSON form. Unknown members are allowed (§4.1).
type wireDocument struct {
	ClientID *string `json:"client_id"`
	store.ClientMetadata
}

// ParseOptions adjust [Parse].
type ParseOptions struct {
	// ValidateRedirectURI checks each redirect URI. Nil means a strict
	// default: https, or http on a loopback IP or localhost, without a
	// fragment or user info.
	ValidateRedirectURI func(string) error
}

// Parse validates body as the client ID metadata document of clientID
// (draft-ietf-oauth-client-id-metadata-document-00 §4.1): a JSON object
// whose client_id equals clientID by simple string comparison (RFC 3986
// §6.2.1), with client_name and a non-empty redirect_uris. No shared secret
// can be established through a public document, so token_endpoint_auth_method
// must be absent or "none" and client_secret must not appear; private_key_jwt
// is not supported. grant_types and response_types are reduced to what an
// authorization-code server supports (documents are portable across servers
// and may list more), and must include authorization_code and code.
func Parse(clientID string, body []byte, opts ParseOptions) (*Document, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, invalidDoc("the client metadata document is not a JSON object")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return nil, invalidDoc("the client metadata document is not valid JSON")
	}
	for _, k := range []string{"client_secret", "client_secret_expires_at"} {
		if _, ok := members[k]; ok {
			return nil, invalidDoc("the client metadata document must not contain %s", k)
		}
	}
	var w wireDocument
	if err := json.Unmarshal(body, &w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, invalidDoc("client metadata field %q has the wrong type", truncate(te.Field, 50))
		}
		return nil, invalidDoc("the client metadata document is not valid JSON")
	}
	switch {
	case w.ClientID == nil:
		return nil, invalidDoc("the client metadata document has no client_id")
	case *w.ClientID != clientID:
		return nil, invalidDoc("the document's client_id does not equal the URL it was fetched from")
	}
	if err := clientmeta.CheckDescription(&w.ClientMetadata, clientmeta.Document); err != nil {
		return nil, invalidDoc("%v", err)
	}
	check := opts.ValidateRedirectURI
	if check == nil {
		check = defaultRedirectCheck
	}
	if err := clientmeta.CheckRedirectURIs(&w.ClientMetadata, check); err != nil {
		return nil, invalidDoc("%v", err)
	}
	d := &Document{ClientID: clientID, ClientMetadata: w.ClientMetadata}
	d.RedirectURIs = slices.Clone(w.RedirectURIs)
	d.Contacts = slices.Clone(w.Contacts)

	switch w.TokenEndpointAuthMethod {
	case "", "none":
		d.TokenEndpointAuthMethod = "none"
	case "private_key_jwt":
		return nil, invalidDoc("token_endpoint_auth_method private_key_jwt is not supported; use none")
	default:
		return nil, invalidDoc("token_endpoint_auth_method %q is not allowed: a public document cannot carry a secret; use none", truncate(w.TokenEndpointAuthMethod, 50))
	}

	d.GrantTypes = []string{"authorization_code"}
	if len(w.GrantTypes) > 0 {
		if !slices.Contains(w.GrantTypes, "authorization_code") {
			return nil, invalidDoc("grant_types must include authorization_code")
		}
		if slices.Contains(w.GrantTypes, "refresh_token") {
			d.GrantTypes = append(d.GrantTypes, "refresh_token")
		}
	}
	if len(w.ResponseTypes) > 0 && !slices.Contains(w.ResponseTypes, "code") {
		return nil, invalidDoc("response_types must include code")
	}
	d.ResponseTypes = []string{"code"}

	return d, nil
}

// defaultRedirectCheck: https, or http on a loopback host (RFC 8252 §7.3),
// absolute, no fragment or user info.
func defaultRedirectCheck(raw string) error {
	if raw == "" || len(raw) > clientmeta.MaxURILength || strings.ContainsAny(raw, " \t\r\n\\<>\"#") || !display.Safe(raw) {
		return errors.New("must be an absolute URI without a fragment")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return errors.New("must be an absolute URI with a host and no user info")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if ip, err := netip.ParseAddr(h); (err == nil && ip.IsLoopback()) || strings.EqualFold(h, "localhost") {
			return nil
		}
	}
	return errors.New("must use https (or http on a loopback host)")
}

func truncate(s string, n int) string { return clientmeta.Truncate(s, n) }
