package mcpauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
)

// register registers a client and returns the RFC 7591 answer.
func (e *env) registerClient(t *testing.T, meta map[string]any) map[string]any {
	t.Helper()
	resp := e.postJSON("/register", meta)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.StatusCode, peek(resp))
	}
	return jsonBody(t, resp)
}

// config calls the RFC 7592 client configuration endpoint.
func (e *env) config(method, clientID, auth string, body any) *http.Response {
	e.t.Helper()
	var r *http.Request
	if body != nil {
		r = e.req(method, "/register/"+url.PathEscape(clientID), strings.NewReader(string(mustJSON(body))))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = e.req(method, "/register/"+url.PathEscape(clientID), nil)
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return e.serve(r)
}

func TestClientConfigurationRFC7592(t *testing.T) {
	e := newEnv(t)
	reg := e.registerClient(t, map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"}, "client_name": "One",
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}})
	id, _ := reg["client_id"].(string)
	tok, _ := reg["registration_access_token"].(string)
	if tok == "" || reg["registration_client_uri"] != testIssuer+"/register/"+id {
		t.Fatalf("registration answer lacks RFC 7592 fields: %v", reg)
	}
	bearer := "Bearer " + tok

	t.Run("read", func(t *testing.T) {
		resp := e.config(http.MethodGet, id, bearer, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("GET: %d %s (Cache-Control %q)", resp.StatusCode, peek(resp), resp.Header.Get("Cache-Control"))
		}
		m := jsonBody(t, resp)
		if m["client_id"] != id || m["client_name"] != "One" || m["registration_client_uri"] != reg["registration_client_uri"] {
			t.Errorf("GET answered %v", m)
		}
		for _, k := range []string{"client_secret", "registration_access_token", "registration_token_digest", "secret_digest"} {
			if _, ok := m[k]; ok {
				t.Errorf("GET shows %s", k)
			}
		}
	})

	t.Run("update", func(t *testing.T) {
		upd := map[string]any{"client_id": id, "redirect_uris": []string{"http://127.0.0.1/new"}, "client_name": "Two",
			"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}}
		resp := e.config(http.MethodPut, id, bearer, upd)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT: %d %s", resp.StatusCode, peek(resp))
		}
		m := jsonBody(t, e.config(http.MethodGet, id, bearer, nil))
		if m["client_name"] != "Two" || m["redirect_uris"].([]any)[0] != "http://127.0.0.1/new" {
			t.Fatalf("after PUT, GET answered %v", m)
		}
		// The new redirect URI is the one that works now.
		e.code(id, "http://127.0.0.1/new", url.Values{"resource": {resourceA}})
		// The same validation as registration, and the same errors.
		bad := []struct {
			name string
			edit func(map[string]any)
			code string
		}{
			{"bad redirect", func(m map[string]any) { m["redirect_uris"] = []string{"http://evil.example/cb"} }, "invalid_redirect_uri"},
			{"bad grant type", func(m map[string]any) { m["grant_types"] = []string{"password"} }, "invalid_client_metadata"},
			{"other client_id", func(m map[string]any) { m["client_id"] = "someone-else" }, "invalid_request"},
			{"no client_id", func(m map[string]any) { delete(m, "client_id") }, "invalid_request"},
			{"chosen secret", func(m map[string]any) { m["client_secret"] = "my-own-secret" }, "invalid_request"},
		}
		for _, b := range bad {
			body := map[string]any{}
			for k, v := range upd {
				body[k] = v
			}
			b.edit(body)
			resp := e.config(http.MethodPut, id, bearer, body)
			if code, status := oauthError(t, resp); status != http.StatusBadRequest || code != b.code {
				t.Errorf("%s: %d %s, want 400 %s", b.name, status, code, b.code)
			}
		}
		if m := jsonBody(t, e.config(http.MethodGet, id, bearer, nil)); m["client_name"] != "Two" {
			t.Errorf("a refused PUT changed the client: %v", m)
		}
	})

	t.Run("public to confidential gets a secret once", func(t *testing.T) {
		upd := map[string]any{"client_id": id, "redirect_uris": []string{"http://127.0.0.1/new"}, "client_name": "Two",
			"token_endpoint_auth_method": "client_secret_post", "grant_types": []string{"authorization_code", "refresh_token"}}
		m := jsonBody(t, e.config(http.MethodPut, id, bearer, upd))
		if sec, _ := m["client_secret"].(string); sec == "" {
			t.Fatalf("PUT to a confidential method issued no secret: %v", m)
		}
		if _, ok := jsonBody(t, e.config(http.MethodGet, id, bearer, nil))["client_secret"]; ok {
			t.Errorf("GET shows the secret")
		}
		upd["token_endpoint_auth_method"] = "none"
		if resp := e.config(http.MethodPut, id, bearer, upd); resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT back to public: %d %s", resp.StatusCode, peek(resp))
		}
	})

	t.Run("delete ends its grants", func(t *testing.T) {
		reg := e.registerClient(t, map[string]any{"redirect_uris": []string{pubRedirect}, "token_endpoint_auth_method": "none",
			"grant_types": []string{"authorization_code", "refresh_token"}})
		id2, _ := reg["client_id"].(string)
		bearer2 := "Bearer " + reg["registration_access_token"].(string)
		toks := e.tokens(id2, nil)
		access := toks["access_token"].(string)
		mcp := protectedByLocal(e)
		if got := mcp(access); got != http.StatusOK {
			t.Fatalf("before DELETE the token gets %d", got)
		}
		resp := e.config(http.MethodDelete, id2, bearer2, nil)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", resp.StatusCode, peek(resp))
		}
		if got := mcp(access); got != http.StatusUnauthorized {
			t.Errorf("after DELETE the client's access token gets %d, want 401", got)
		}
		if e.active(access) {
			t.Errorf("after DELETE /introspect says the access token is active")
		}
		if resp := e.config(http.MethodGet, id2, bearer2, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET after DELETE: %d, want 401", resp.StatusCode)
		}
		if resp := e.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {toks["refresh_token"].(string)}, "client_id": {id2}}); resp.StatusCode < 400 {
			t.Errorf("refresh after DELETE: %d", resp.StatusCode)
		}
		// The other client is untouched.
		if resp := e.config(http.MethodGet, id, bearer, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("DELETE of one client broke another: %d", resp.StatusCode)
		}
	})
}

// protectedByLocal returns a call of an MCP handler behind RequireMCPAuth
// with Local: e.srv (audience resourceA), answering the status a token gets.
func protectedByLocal(e *env) func(token string) int {
	h := mcpauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Local: e.srv, Audience: resourceA}})(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	return func(token string) int {
		r := httptest.NewRequest(http.MethodPost, resourceA, strings.NewReader("{}"))
		r.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
}

// TestClientConfigurationRefusals: every way of not holding the client's
// registration access token is 401 invalid_token with a Bearer challenge,
// for every method, and changes nothing.
func TestClientConfigurationRefusals(t *testing.T) {
	e := newEnv(t)
	meta := map[string]any{"redirect_uris": []string{pubRedirect}, "token_endpoint_auth_method": "none"}
	a := e.registerClient(t, meta)
	b := e.registerClient(t, meta)
	idA, tokB := a["client_id"].(string), b["registration_access_token"].(string)
	cases := []struct {
		name, id, auth string
	}{
		{"missing", idA, ""},
		{"wrong", idA, "Bearer " + strings.Repeat("x", 43)},
		{"another client's token", idA, "Bearer " + tokB},
		{"unknown client", "no-such-client", "Bearer " + tokB},
		{"static client", "pub", "Bearer " + tokB},
		{"Basic scheme", idA, basic(idA, tokB)},
		{"empty bearer", idA, "Bearer "},
	}
	for _, c := range cases {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			var body any
			if method == http.MethodPut {
				body = map[string]any{"client_id": c.id, "redirect_uris": []string{"http://127.0.0.1/x"}, "token_endpoint_auth_method": "none"}
			}
			resp := e.config(method, c.id, c.auth, body)
			ch := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(ch, "Bearer") {
				t.Errorf("%s %s: %d WWW-Authenticate %q, want 401 Bearer", c.name, method, resp.StatusCode, ch)
			}
			if c.auth != "" && !strings.Contains(ch, `error="invalid_token"`) {
				t.Errorf("%s %s: challenge %q lacks invalid_token", c.name, method, ch)
			}
		}
	}
	m := jsonBody(t, e.config(http.MethodGet, idA, "Bearer "+a["registration_access_token"].(string), nil))
	if m["client_id"] != idA || m["redirect_uris"].([]any)[0] != pubRedirect {
		t.Errorf("refused calls changed or deleted the client: %v", m)
	}
}
