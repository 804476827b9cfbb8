package mcpauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// presetStatus is a ResponseWriter like gin's under NoRoute: the router has
// already chosen a status (404), and a handler that writes its body without
// calling WriteHeader sends that status instead of net/http's implicit 200.
type presetStatus struct {
	http.ResponseWriter
	status  int
	written bool
}

func (w *presetStatus) WriteHeader(code int) {
	if !w.written {
		w.status = code
		w.written = true
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *presetStatus) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(w.status)
	}
	return w.ResponseWriter.Write(b)
}

// TestEveryHandlerWritesItsStatus runs the endpoints and a browser sign-in
// through a router that pre-sets 404: every answer keeps its own status
// (the JWK Set and the stylesheet used to come out as 404).
func TestEveryHandlerWritesItsStatus(t *testing.T) {
	e := newEnv(t, withUsers(t))
	preset := func(r *http.Request) *http.Response {
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(&presetStatus{ResponseWriter: rec, status: http.StatusNotFound}, r)
		return rec.Result()
	}
	plain := func(r *http.Request) *http.Response {
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, r)
		return rec.Result()
	}
	get := func(path string) func() *http.Request {
		return func() *http.Request { return e.req(http.MethodGet, path, nil) }
	}
	lt := newLoginTarget(t, e)
	loginPage := func() *http.Request {
		r := e.req(http.MethodGet, "/login?req="+url.QueryEscape(lt.req), nil)
		r.Header.Set("Accept", "text/html")
		for _, c := range lt.cookies {
			r.AddCookie(c)
		}
		return r
	}
	register := func() *http.Request {
		r := e.req(http.MethodPost, "/register", strings.NewReader(`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	preflight := func() *http.Request {
		r := e.req(http.MethodOptions, "/token", nil)
		r.Header.Set("Origin", "https://app.example")
		r.Header.Set("Access-Control-Request-Method", "POST")
		return r
	}
	for _, tc := range []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"jwks", get("/.well-known/jwks.json"), http.StatusOK},
		{"stylesheet", get("/assets/style.css"), http.StatusOK},
		{"metadata", get("/.well-known/oauth-authorization-server"), http.StatusOK},
		{"oidc metadata", get("/.well-known/openid-configuration"), http.StatusOK},
		{"authorize", get("/authorize?" + authzQuery("pub", pubRedirect, newVerifier()).Encode()), http.StatusFound},
		{"login page", loginPage, http.StatusOK},
		{"register", register, http.StatusCreated},
		{"preflight", preflight, http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := plain(tc.req()).StatusCode; got != tc.want {
				t.Fatalf("plain writer: status %d, want %d", got, tc.want)
			}
			if got := preset(tc.req()).StatusCode; got != tc.want {
				t.Errorf("writer with a pre-set 404: status %d, want %d", got, tc.want)
			}
		})
	}
}
