package mcpauth

import (
	"errors"
	"net/url"
	"strings"
)

// Redirect URI rules: OAuth 2.1 §2.3.1 and §7.12, RFC 8252 §7.1 and §7.3.

// validRedirectURI accepts https URIs, http URIs on a loopback host, and
// reverse-domain private-use schemes for native apps (com.example.app:/cb).
// It rejects fragments, user info and dangerous schemes such as javascript:.
func validRedirectURI(raw string) error {
	if raw == "" || len(raw) > 2048 {
		return errors.New("must be 1 to 2048 characters")
	}
	if strings.ContainsAny(raw, " \t\r\n\\<>\"") {
		return errors.New("contains characters not allowed in a URI")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return errors.New("must be an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not contain a fragment")
	}
	if u.User != nil {
		return errors.New("must not contain user info")
	}
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case "https":
		if u.Host == "" {
			return errors.New("https URI needs a host")
		}
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return errors.New("http is allowed only on a loopback host (use https)")
		}
	default:
		if !privateUseScheme(scheme) {
			return errors.New("scheme must be https, http on loopback, or a reverse-domain private-use scheme (RFC 8252 §7.1)")
		}
		if u.Host != "" || u.Opaque != "" && !strings.HasPrefix(u.Opaque, "/") {
			return errors.New("private-use scheme URIs take the form com.example.app:/path")
		}
	}
	return nil
}

// privateUseScheme: a reverse domain name with at least one dot, never one
// of the schemes a browser would act on itself.
func privateUseScheme(scheme string) bool {
	switch scheme {
	case "javascript", "data", "file", "vbscript", "about", "blob", "ftp", "ws", "wss", "mailto", "chrome", "filesystem":
		return false
	}
	if !strings.Contains(scheme, ".") {
		return false
	}
	for _, label := range strings.Split(scheme, ".") {
		if label == "" {
			return false
		}
	}
	return true
}

// matchRedirectURI reports whether requested equals a registered URI: byte
// for byte, or, for http on a loopback IP or localhost, equal except the port
// (RFC 8252 §7.3; the host itself must match).
func matchRedirectURI(registered []string, requested string) bool {
	for _, r := range registered {
		if r == requested {
			return true
		}
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || !isLoopbackHost(req.Hostname()) {
		return false
	}
	for _, r := range registered {
		reg, err := url.Parse(r)
		if err != nil || reg.Scheme != "http" {
			continue
		}
		if reg.Hostname() == req.Hostname() && reg.EscapedPath() == req.EscapedPath() && reg.RawQuery == req.RawQuery {
			return true
		}
	}
	return false
}

// validResourceURI applies RFC 8707 §2: an absolute URI without a fragment.
func validResourceURI(raw string) error {
	if len(raw) > 2048 {
		return errors.New("too long")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return errors.New("must be an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not contain a fragment")
	}
	return nil
}

// redirectOrigin is the CSP source that lets a form submission end in a
// redirect to uri: its origin, or its scheme for private-use schemes.
func redirectOrigin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + ":"
}
