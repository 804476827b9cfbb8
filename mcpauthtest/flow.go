package mcpauthtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
)

// Tokens runs the authorization code flow with PKCE (RFC 7636) over HTTP
// against the server at issuer, for the public client clientID whose
// consent is answered by the server's Authenticator (use [AutoApprove]),
// and returns the access and refresh tokens. resource may be empty (RFC
// 8707). It fails the test on any error.
func Tokens(t testing.TB, issuer, clientID, redirectURI, resource string) (access, refresh string) {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	verifier := base64.RawURLEncoding.EncodeToString(b)
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
		"code_challenge": {mcpauth.S256Challenge(verifier)}, "code_challenge_method": {"S256"}, "state": {"s"},
	}
	if resource != "" {
		q.Set("resource", resource)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(strings.TrimSuffix(issuer, "/") + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}, "client_id": {clientID}}
	if resource != "" {
		form.Set("resource", resource)
	}
	resp, err = http.PostForm(strings.TrimSuffix(issuer, "/")+"/token", form)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tr struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tr) != nil || tr.Access == "" {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	return tr.Access, tr.Refresh
}

// Revoke revokes token (RFC 7009) at the server at issuer as the public
// client clientID, failing the test unless the answer is 200.
func Revoke(t testing.TB, issuer, clientID, token string) {
	t.Helper()
	resp, err := http.PostForm(strings.TrimSuffix(issuer, "/")+"/revoke", url.Values{"token": {token}, "client_id": {clientID}})
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
}
