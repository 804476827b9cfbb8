// Package mcpauthtest provides helpers for testing programs built with
// mcpauth, as net/http/httptest does for net/http.
package mcpauthtest

import (
	"net"
	"net/http"
	"strings"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store"
)

// AutoApprove returns an authenticator for tests: it signs every
// authorization request in as subject and approves it at once, so
// /authorize answers with the code and no sign-in or consent page is shown
// ([mcpauth.ConsentingAuthenticator]). The grant policy still applies.
//
// It answers only requests addressed to a loopback host (localhost,
// 127.0.0.0/8, ::1). A request to any other host finds nobody signed in
// and is refused sign-in with 403, so a server reachable from elsewhere
// cannot be made to approve for anyone.
func AutoApprove(subject string) mcpauth.ConsentingAuthenticator {
	return autoApprove(subject)
}

type autoApprove string

func (a autoApprove) Authenticate(r *http.Request) (mcpauth.User, bool, error) {
	if !loopback(r.Host) {
		return mcpauth.User{}, false, nil
	}
	return mcpauth.User{Subject: string(a), Name: string(a)}, true, nil
}

func (a autoApprove) SignIn(w http.ResponseWriter, r *http.Request, returnTo string) {
	http.Error(w, "mcpauthtest.AutoApprove answers loopback requests only", http.StatusForbidden)
}

func (a autoApprove) Consents(r *http.Request, client *store.Client) bool { return loopback(r.Host) }

func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
