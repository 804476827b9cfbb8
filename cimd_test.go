package mcpauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mcpauth/mcpauth/internal/cimd"
	"github.com/mcpauth/mcpauth/internal/oauth"
	"github.com/mcpauth/mcpauth/limits"
)

const cimdRedirect = "http://127.0.0.1:9999/callback"

// cimdEnv is an authorization server on an http://127.0.0.1 issuer with
// an auto-approving Authenticator, plus a TLS server publishing client metadata documents.
type cimdEnv struct {
	t    *testing.T
	as   *Server
	srv  *httptest.Server // the authorization server
	docs *httptest.Server // the client's https origin
	hits sync.Map         // document path → *atomic.Int64
	http *http.Client     // does not follow redirects
}

// cimdDocHandler writes the response for a document request; self is the
// URL it was requested at (the client_id).
type cimdDocHandler func(w http.ResponseWriter, r *http.Request, self string)

func newCIMDEnv(t *testing.T, docs cimdDocHandler, mutate func(*Config), strictFetcher bool) *cimdEnv {
	t.Helper()
	e := &cimdEnv{t: t, http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	e.docs = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := e.hits.LoadOrStore(r.URL.Path, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		docs(w, r, "https://"+r.Host+r.URL.RequestURI())
	}))
	t.Cleanup(e.docs.Close)
	var handler http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	cfg := Config{
		Issuer:        e.srv.URL,
		Scopes:        []string{"mcp:tools", "mcp:admin"},
		Authenticator: testAutoApprove("alice"),
		RateLimits:    &limits.RateLimits{Disabled: true},
		Logger:        slog.New(slog.DiscardHandler),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	as, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	if !strictFetcher {
		tlsConf := e.docs.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		as.cimd.testOptions = func(o *cimd.Options) {
			o.AllowLoopback = true
			o.TLSConfig = tlsConf
		}
	}
	e.as, handler = as, as
	return e
}

func (e *cimdEnv) clientID(path string) string { return e.docs.URL + path }

func (e *cimdEnv) fetches(path string) int64 {
	v, _ := e.hits.LoadOrStore(path, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

// authorize sends GET /authorize and returns the response (body read).
func (e *cimdEnv) authorize(clientID, redirectURI, challenge string) (*http.Response, string) {
	e.t.Helper()
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "state": {"st-1"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	if redirectURI != "" {
		q.Set("redirect_uri", redirectURI)
	}
	resp, err := e.http.Get(e.srv.URL + pathAuthorize + "?" + q.Encode())
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (e *cimdEnv) token(form url.Values) (int, map[string]any) {
	e.t.Helper()
	resp, err := e.http.PostForm(e.srv.URL+pathToken, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		e.t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, body
}

func cimdServe(doc func(self string) string, cacheControl string) cimdDocHandler {
	return func(w http.ResponseWriter, r *http.Request, self string) {
		w.Header().Set("Content-Type", "application/json")
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		fmt.Fprint(w, doc(self))
	}
}

func cimdDoc(self string) string {
	return fmt.Sprintf(`{"client_id":%q,"client_name":"Doc Client","redirect_uris":[%q],
		"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none",
		"client_uri":"https://client.example","scope":"mcp:tools openid"}`, self, cimdRedirect)
}

const cimdVerifier = "cimd-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"

func cimdS256() string { return S256Challenge(cimdVerifier) }

func TestCIMDAuthorizeAndTokenEndToEnd(t *testing.T) {
	e := newCIMDEnv(t, cimdServe(cimdDoc, "max-age=600"), nil, false)
	id := e.clientID("/oauth/client.json")

	resp, body := e.authorize(id, cimdRedirect, cimdS256())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != cimdRedirect {
		t.Fatalf("redirected to %s", loc)
	}
	q := loc.Query()
	if q.Get("code") == "" || q.Get("state") != "st-1" || q.Get("iss") != e.srv.URL || q.Get("error") != "" {
		t.Fatalf("authorization response %v", q)
	}

	// A public client: a secret is refused.
	status, tok := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {id}, "client_secret": {"s"}, "code_verifier": {cimdVerifier}})
	if status != http.StatusUnauthorized || tok["error"] != "invalid_client" {
		t.Fatalf("token with secret: %d %v", status, tok)
	}

	status, tok = e.token(url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {cimdRedirect},
		"client_id": {id}, "code_verifier": {cimdVerifier},
	})
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}
	if tok["access_token"] == nil || tok["token_type"] != "Bearer" {
		t.Fatalf("token response %v", tok)
	}
	if tok["scope"] != "mcp:tools" {
		t.Errorf("scope = %v, want the document's supported scope mcp:tools", tok["scope"])
	}
	rt, _ := tok["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("no refresh token for a document listing refresh_token: %v", tok)
	}
	status, tok = e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {id}})
	if status != http.StatusOK || tok["access_token"] == nil {
		t.Fatalf("refresh: %d %v", status, tok)
	}
	if n := e.fetches("/oauth/client.json"); n != 1 {
		t.Errorf("document fetched %d times over the whole flow, want 1 (max-age=600)", n)
	}
}

func TestCIMDMetadataDocumentSupportedFlag(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		t.Run(fmt.Sprint("disabled=", disabled), func(t *testing.T) {
			e := newCIMDEnv(t, cimdServe(cimdDoc, ""), func(c *Config) { c.DisableClientIDMetadataDocuments = disabled }, false)
			resp, err := http.Get(e.srv.URL + wellKnownAS)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
				t.Fatal(err)
			}
			if m["client_id_metadata_document_supported"] != !disabled {
				t.Fatalf("client_id_metadata_document_supported = %v", m["client_id_metadata_document_supported"])
			}
			if !disabled {
				return
			}
			resp2, body := e.authorize(e.clientID("/client.json"), cimdRedirect, cimdS256())
			if resp2.StatusCode != http.StatusBadRequest || !strings.Contains(body, "unknown client") {
				t.Fatalf("disabled: authorize = %d %s", resp2.StatusCode, body)
			}
			if n := e.fetches("/client.json"); n != 0 {
				t.Fatalf("disabled: document fetched %d times", n)
			}
		})
	}
}

// TestCIMDRejections: every failure is phase 1 of /authorize (OAuth 2.1
// §4.1.2.1): shown, never redirected, and never a 5xx.
func TestCIMDRejections(t *testing.T) {
	docs := func(w http.ResponseWriter, r *http.Request, self string) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/good.json":
			fmt.Fprint(w, cimdDoc(self))
		case "/mismatch.json":
			fmt.Fprint(w, cimdDoc("https://someone-else.example/client.json"))
		case "/no-redirects.json":
			fmt.Fprintf(w, `{"client_id":%q,"client_name":"x"}`, self)
		case "/no-name.json":
			fmt.Fprintf(w, `{"client_id":%q,"redirect_uris":[%q]}`, self, cimdRedirect)
		case "/secret.json":
			fmt.Fprintf(w, `{"client_id":%q,"client_name":"x","redirect_uris":[%q],"token_endpoint_auth_method":"client_secret_basic"}`, self, cimdRedirect)
		case "/bad-redirect.json":
			fmt.Fprintf(w, `{"client_id":%q,"client_name":"x","redirect_uris":["javascript:alert(1)"]}`, self)
		case "/big.json":
			fmt.Fprintf(w, `{"client_id":%q,"client_name":"x","redirect_uris":[%q],"pad":%q}`, self, cimdRedirect, strings.Repeat("x", cimd.DefaultMaxBytes))
		case "/html.json":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, cimdDoc(self))
		case "/not-json.json":
			fmt.Fprint(w, "not json at all")
		case "/moved.json":
			http.Redirect(w, r, "/good.json", http.StatusFound)
		case "/gone.json":
			http.Error(w, "gone", http.StatusGone)
		}
	}
	e := newCIMDEnv(t, docs, nil, false)
	tests := []struct {
		name     string
		clientID string
		redirect string
		want     string
	}{
		{"client_id mismatch", e.clientID("/mismatch.json"), cimdRedirect, "client_id does not equal"},
		{"missing redirect_uris", e.clientID("/no-redirects.json"), cimdRedirect, "redirect_uris is required"},
		{"missing client_name", e.clientID("/no-name.json"), cimdRedirect, "client_name"},
		{"secret auth method", e.clientID("/secret.json"), cimdRedirect, "cannot carry a secret"},
		{"invalid redirect URI in document", e.clientID("/bad-redirect.json"), cimdRedirect, "redirect URI"},
		{"redirect_uri not in document", e.clientID("/good.json"), "http://127.0.0.1:9999/other", "redirect_uri does not match"},
		{"https redirect_uri not in document", e.clientID("/good.json"), "https://attacker.example/cb", "redirect_uri does not match"},
		{"oversized", e.clientID("/big.json"), cimdRedirect, "larger than"},
		{"not JSON content type", e.clientID("/html.json"), cimdRedirect, "application/json"},
		{"not JSON", e.clientID("/not-json.json"), cimdRedirect, "not a JSON object"},
		{"redirect not followed", e.clientID("/moved.json"), cimdRedirect, "redirects are not followed"},
		{"HTTP error", e.clientID("/gone.json"), cimdRedirect, "HTTP 410"},
		{"http client_id", strings.Replace(e.clientID("/good.json"), "https://", "http://", 1), cimdRedirect, "unknown client"},
		{"no path", e.docs.URL, cimdRedirect, "must have a path"},
		{"fragment", e.clientID("/good.json#frag"), cimdRedirect, "fragment"},
		{"dot segments", e.clientID("/a/../good.json"), cimdRedirect, "path segments"},
		{"private address", "https://10.0.0.1/client.json", cimdRedirect, "non-public address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.authorize(tt.clientID, tt.redirect, cimdS256())
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Fatalf("redirected to %s; phase 1 errors must not redirect", loc)
			}
			var oe struct {
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
			}
			if err := json.Unmarshal([]byte(body), &oe); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			wantCode := "invalid_client"
			if strings.HasPrefix(tt.want, "redirect_uri does not match") {
				wantCode = "invalid_request"
			}
			if oe.Error != wantCode || !strings.Contains(oe.ErrorDescription, tt.want) {
				t.Fatalf("got %s %q, want %s mentioning %q", oe.Error, oe.ErrorDescription, wantCode, tt.want)
			}
		})
	}
	if n := e.fetches("/good.json"); n != 1 {
		t.Errorf("/good.json fetched %d times, want 1: a redirect must not be followed, and the valid document is cached", n)
	}
}

func TestCIMDTokenEndpointRejectsUnfetchableClient(t *testing.T) {
	e := newCIMDEnv(t, func(w http.ResponseWriter, r *http.Request, self string) { http.NotFound(w, r) }, nil, false)
	status, body := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {"c"}, "client_id": {e.clientID("/missing.json")}, "code_verifier": {cimdVerifier}})
	if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("token: %d %v", status, body)
	}
}

func TestCIMDDefaultFetcherRefusesLoopback(t *testing.T) {
	// No test hook: the production fetcher must refuse the httptest
	// server on 127.0.0.1, both as an IP literal and via localhost.
	e := newCIMDEnv(t, cimdServe(cimdDoc, ""), nil, true)
	port := e.docs.URL[strings.LastIndexByte(e.docs.URL, ':')+1:]
	for _, id := range []string{e.clientID("/client.json"), "https://localhost:" + port + "/client.json", "https://[::1]:" + port + "/client.json"} {
		resp, body := e.authorize(id, cimdRedirect, cimdS256())
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_client") || !strings.Contains(body, "non-public address") {
			t.Fatalf("%s: %d %s", id, resp.StatusCode, body)
		}
	}
	if n := e.fetches("/client.json"); n != 0 {
		t.Fatalf("the loopback document server was reached %d times", n)
	}
}

func TestCIMDCacheHonoured(t *testing.T) {
	e := newCIMDEnv(t, func(w http.ResponseWriter, r *http.Request, self string) {
		switch r.URL.Path {
		case "/cached.json":
			cimdServe(cimdDoc, "public, max-age=3600")(w, r, self)
		case "/nostore.json":
			cimdServe(cimdDoc, "no-store")(w, r, self)
		default:
			http.NotFound(w, r)
		}
	}, nil, false)
	for path, want := range map[string]int64{"/cached.json": 1, "/nostore.json": 2, "/missing.json": 1} {
		for range 2 {
			e.authorize(e.clientID(path), cimdRedirect, cimdS256())
		}
		if n := e.fetches(path); n != want {
			t.Errorf("%s fetched %d times for two authorizations, want %d", path, n, want)
		}
	}
}

func TestCIMDClientFromMetadataDocument(t *testing.T) {
	e := newCIMDEnv(t, cimdServe(func(self string) string {
		return fmt.Sprintf(`{"client_id":%q,"client_name":"Native","redirect_uris":[%q,"com.example.app:/cb"],"scope":"openid offline_access"}`, self, cimdRedirect)
	}, ""), func(c *Config) {
		c.AllowedRedirectURIs = []string{cimdRedirect, "com.example.app:/cb"}
	}, false)
	c, err := e.as.clientFromMetadataDocument(context.Background(), e.clientID("/native.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsPublic() || c.Name != "Native" || c.ApplicationType != "native" || len(c.RedirectURIs) != 2 ||
		c.HasGrantType("refresh_token") || !c.HasGrantType("authorization_code") {
		t.Fatalf("client %+v", c)
	}
	if c.Scope != "" {
		t.Errorf("Scope = %q: a document naming none of our scopes must not restrict the client to offline_access", c.Scope)
	}

	strict := newCIMDEnv(t, cimdServe(cimdDoc, ""), func(c *Config) { c.AllowedRedirectURIs = []string{"https://only.example/cb"} }, false)
	_, err = strict.as.clientFromMetadataDocument(context.Background(), strict.clientID("/client.json"))
	if err == nil || oauth.As(err).Code != "invalid_client" || !strings.Contains(oauth.As(err).Description, "not allowed by this server") {
		t.Fatalf("AllowedRedirectURIs not applied: %v", err)
	}
}
