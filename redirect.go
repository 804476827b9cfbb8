package mcpauth

// This file implements the redirect URI rules: OAuth 2.1 §2.3.1 and §7.12,
// RFC 8252 §7.1 and §7.3.

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mcpauth/mcpauth/internal/display"
	"github.com/mcpauth/mcpauth/internal/ui"
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
	if (u.Port() != "" || strings.HasSuffix(u.Host, ":")) && !validPort(u.Port()) {
		return errors.New("must have a port from 1 to 65535")
	}
	if !display.Safe(raw) {
		return errors.New("contains control or invisible formatting characters")
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

// validPort: a decimal port from 1 to 65535 without leading zeros.
func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// matchRedirectURI reports whether requested equals a registered URI: byte
// for byte, or, for http on a loopback IP or localhost, equal except the port
// (RFC 8252 §7.3; the host itself must match). A port-varied URI must pass
// the checks of a registered one: no user info, no fragment, a valid port.
func matchRedirectURI(registered []string, requested string) bool {
	if slices.Contains(registered, requested) {
		return true
	}
	if validRedirectURI(requested) != nil {
		return false
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || !isLoopbackHost(req.Hostname()) {
		return false
	}
	for _, r := range registered {
		reg, err := url.Parse(r)
		if err != nil || reg.Scheme != "http" || reg.User != nil || reg.Fragment != "" {
			continue
		}
		if reg.Hostname() == req.Hostname() && reg.EscapedPath() == req.EscapedPath() &&
			reg.RawQuery == req.RawQuery && reg.ForceQuery == req.ForceQuery {
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
	if !display.Safe(raw) {
		return errors.New("must not contain control or invisible formatting characters")
	}
	return nil
}

// displayURL is uri as the consent page shows it: its host in punycode.
func displayURL(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return uri
	}
	if h := display.PrepareHost(u.Host); h.Unicode != "" {
		u.Host = h.ASCII
		return u.String()
	}
	return uri
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

// redirectHost is the host of a redirect URI as pages show it (punycode,
// with a mixed-script warning); the scheme for private-use schemes.
func redirectHost(uri string) ui.Host {
	u, err := url.Parse(uri)
	if err != nil || uri == "" {
		return ui.Host{}
	}
	if u.Host == "" {
		return ui.Host{ASCII: u.Scheme + ":"} // private-use scheme: the app itself
	}
	return display.PrepareHost(u.Host)
}
