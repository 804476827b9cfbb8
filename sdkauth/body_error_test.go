package sdkauth_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/sdkauth"
)

// failingBody yields some bytes, then fails the way a broken connection does.
type failingBody struct{ sent bool }

func (b *failingBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, `{"jsonrpc":"2.0",`), nil
	}
	return 0, errors.New("read tcp 10.0.0.1:443->10.0.0.2:5555: i/o timeout (*net.OpError)")
}
func (b *failingBody) Close() error { return nil }

// TestUnreadableBodyDescription: a body that cannot be read is refused with
// a description in the client's terms; the transport's error text (the old
// code sent "reading the request body: <net error>") stays out of it.
func TestUnreadableBodyDescription(t *testing.T) {
	is := newIssuer(t)
	h := sdkauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Logger: quiet}, Verifier: is.verifier(t)},
		sdkauth.ToolScopes(map[string][]string{"add": {"tools:execute"}}))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("the handler ran") }))
	req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	req.Body = &failingBody{}
	req.Header.Set("Authorization", "Bearer "+is.token("alice", "tools:read", time.Hour))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	chal := rec.Header().Get("WWW-Authenticate")
	if rec.Code != http.StatusBadRequest || !strings.Contains(chal, `error_description="the request body could not be read"`) {
		t.Fatalf("got %d %q %s", rec.Code, chal, body)
	}
	for _, leak := range []string{"tcp", "i/o timeout", "net.OpError", "reading the request body"} {
		if strings.Contains(chal, leak) || strings.Contains(string(body), leak) {
			t.Errorf("the answer leaks %q: %s %s", leak, chal, body)
		}
	}
}
