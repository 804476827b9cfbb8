package mcpauth

import (
	"net/http"

	"github.com/mcpauth/mcpauth/store"
)

// testAutoApprove is mcpauthtest.AutoApprove for this package's internal
// tests (which cannot import it): every request is signed in as the
// subject and approved without a page.
type testAutoApprove string

func (a testAutoApprove) Authenticate(*http.Request) (User, bool, error) {
	return User{Subject: string(a), Name: string(a)}, true, nil
}

func (a testAutoApprove) SignIn(w http.ResponseWriter, _ *http.Request, _ string) {
	http.Error(w, "not signed in", http.StatusForbidden)
}

func (a testAutoApprove) Consents(*http.Request, *store.Client) bool { return true }
