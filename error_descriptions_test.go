package mcpauth_test

import (
	"encoding/base64"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
)

// leakMarkers are fragments of library and runtime messages that must never
// reach a client: go-jose's, encoding/json's and base64's error texts, fmt's
// bad-verb marks and Go type names.
var leakMarkers = []string{
	"go-jose", "square/go-jose", "json:", "illegal base64", "crypto/", "%!", "invalid character",
	"unexpected EOF", "jose.", "*url.", "url.Error", "strconv.", "map[string]", "[]string", "interface {}", "<nil>",
	"net/http", "http: ", "x509", "runtime error", "unexpected end of JSON",
}

// goTypeName matches a qualified Go type as fmt prints it (*jose.JSONWebKey,
// json.SyntaxError).
var goTypeName = regexp.MustCompile(`\*?\b(jose|jwt|json|url|base64|ecdsa|rsa|ed25519|errors|fmt|io|http|mcpauth|oauth)\.[A-Z]\w*`)

// checkNoLeak fails when any client-visible text of resp leaks internals.
func checkNoLeak(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	body := peek(resp)
	texts := map[string]string{"body": html.UnescapeString(body), "WWW-Authenticate": resp.Header.Get("WWW-Authenticate")}
	if loc := resp.Header.Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil {
			texts["redirect error_description"] = u.Query().Get("error_description")
		}
	}
	for where, text := range texts {
		for _, m := range leakMarkers {
			if strings.Contains(text, m) {
				t.Errorf("%s: %s contains %q: %.400s", what, where, m, text)
			}
		}
		if s := goTypeName.FindString(text); s != "" {
			t.Errorf("%s: %s names the Go type %s: %.400s", what, where, s, text)
		}
	}
}

// TestErrorDescriptionsSayWhatIsWrong: hostile inputs at every endpoint get
// descriptions in the client's terms (the old code sent go-jose's messages
// for wrong-algorithm and badly signed tokens); the internals go to the log.
func TestErrorDescriptionsSayWhatIsWrong(t *testing.T) {
	e := newEnv(t)
	m := e.tokens("pub", nil)
	at := m["access_token"].(string)
	hs256 := forge(t, at, func(h, c map[string]any) { h["alg"] = "HS256" }, []byte("secret"))
	none := forge(t, at, func(h, c map[string]any) { h["alg"] = "none" }, nil)
	p := strings.Split(at, ".")
	badSig := p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	tampered := func() string {
		f := forge(t, at, func(h, c map[string]any) { c["scope"] = "admin" }, nil)
		return strings.TrimSuffix(f, ".") + "." + p[2]
	}()
	unknownKid := forge(t, at, func(h, c map[string]any) { h["kid"] = "nope" }, []byte("x"))
	badHeader := "eyJhbGciOiJFUzI1NiIs." + p[1] + "." + p[2] // header is truncated JSON
	badB64 := "!!!." + p[1] + "." + p[2]
	claimsNotJSON := p[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":`)) + "." + p[2]
	wrongIssuer := newEnv(t, func(c *mcpauth.Config) { c.Issuer = "http://127.0.0.1:9999"; c.Keys = e.keys }).tokens("pub", nil)["access_token"].(string)

	tokens := map[string]string{
		"garbage": "garbage", "three garbage parts": "a.b.c", "HS256 (wrong alg)": hs256, "alg none": none,
		"bad signature": badSig, "tampered claims": tampered, "unknown kid": unknownKid, "truncated header JSON": badHeader,
		"header not base64url": badB64, "claims not JSON": claimsNotJSON, "foreign issuer, same key": wrongIssuer,
	}

	t.Run("middleware", func(t *testing.T) {
		logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		mw := mcpauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Local: e.srv, Audience: resourceA, Logger: logger}})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		call := func(name, tok string, want string) {
			r := httptest.NewRequest(http.MethodPost, resourceA, nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			mw.ServeHTTP(rec, r)
			resp := rec.Result()
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest { // 400: not b64token syntax
				t.Errorf("%s: status %d, want 401 or 400", name, resp.StatusCode)
			}
			checkNoLeak(t, name, resp)
			if desc := errDesc(t, resp); want != "" && desc != want {
				t.Errorf("%s: description %q, want %q", name, desc, want)
			}
		}
		for name, tok := range tokens {
			call(name, tok, "")
		}
		call("HS256 names the algorithm problem", hs256, "token signing algorithm not accepted")
		call("bad signature names the signature", badSig, "invalid token signature")
		call("foreign issuer names the issuer", wrongIssuer, "token issuer not accepted")
		later := newEnv(t, func(c *mcpauth.Config) {
			c.Keys = e.keys
			c.Grants = e.grants
			c.Now = func() time.Time { return testEpoch.Add(2 * time.Hour) }
		})
		expired := mcpauth.RequireMCPAuth(&mcpauth.RequireMCPAuthOptions{VerifierOptions: mcpauth.VerifierOptions{Local: later.srv, Audience: resourceA, Logger: discard}})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		r := httptest.NewRequest(http.MethodPost, resourceA, nil)
		r.Header.Set("Authorization", "Bearer "+at)
		rec := httptest.NewRecorder()
		expired.ServeHTTP(rec, r)
		checkNoLeak(t, "expired", rec.Result())
		if desc := errDesc(t, rec.Result()); desc != "token expired" {
			t.Errorf("expired: description %q", desc)
		}
	})

	t.Run("audit stream", func(t *testing.T) {
		for name, tok := range tokens {
			resp := e.get(mcpauth.AuditStreamPath, "Authorization", "Bearer "+tok)
			checkNoLeak(t, "audit stream, "+name, resp)
		}
	})

	basicRaw := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	type req struct {
		name, ctype, body string
		hdr               []string
	}
	hostile := []req{
		{"malformed JSON", "application/json", `{"grant_type":`, nil},
		{"JSON array", "application/json", `["token"]`, nil},
		{"JSON object value", "application/json", `{"token":{"a":1},"client_id":"pub"}`, nil},
		{"JSON number overflow", "application/json", `{"token":1e999,"client_id":"pub"}`, nil},
		{"bad form escape", "application/x-www-form-urlencoded", "token=%zz&client_id=pub", nil},
		{"bad client secret", "application/x-www-form-urlencoded", "token=x", []string{"Authorization", basic("conf", "wrong")}},
		{"Basic not base64", "application/x-www-form-urlencoded", "token=x", []string{"Authorization", "Basic !!!"}},
		{"Basic bad escape", "application/x-www-form-urlencoded", "token=x", []string{"Authorization", basicRaw("%zz:%zz")}},
		{"Basic no colon", "application/x-www-form-urlencoded", "token=x", []string{"Authorization", basicRaw("conf")}},
		{"Bearer at the AS", "application/x-www-form-urlencoded", "token=x", []string{"Authorization", "Bearer " + hs256}},
		{"wrong content type", "text/plain", "token=x", nil},
		{"unknown client", "application/x-www-form-urlencoded", "token=x&client_id=%00%ff", nil},
	}
	for name, tok := range tokens {
		hostile = append(hostile, req{"token " + name, "application/x-www-form-urlencoded", url.Values{"token": {tok}, "refresh_token": {tok},
			"code": {tok}, "code_verifier": {tok}, "grant_type": {"refresh_token"}, "client_id": {"pub"}}.Encode(), nil})
	}
	hostile = append(hostile,
		req{"code grant garbage", "application/x-www-form-urlencoded", "grant_type=authorization_code&code=x&code_verifier=short&client_id=pub&redirect_uri=%zz", nil},
		req{"bad resource", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=x&client_id=pub&resource=%3A%2F%2F", nil},
		req{"unknown grant type", "application/x-www-form-urlencoded", "grant_type=%E2%80%AE&client_id=pub", nil},
	)
	for _, path := range []string{"/token", "/introspect", "/revoke"} {
		t.Run(path, func(t *testing.T) {
			for _, h := range hostile {
				resp := e.postRaw(path, h.ctype, h.body, h.hdr...)
				checkNoLeak(t, h.name, resp)
			}
		})
	}

	t.Run("/register", func(t *testing.T) {
		for _, body := range []string{
			`{"redirect_uris":`, `[]`, `{"redirect_uris":"x"}`, `{"redirect_uris":[1]}`, `{"redirect_uris":["http://[::1"]}`,
			`{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":{"x":1}}`,
			`{"redirect_uris":["https://a.example/cb"],"grant_types":"authorization_code"}`,
			`{"redirect_uris":["https://a.example/cb"],"client_name":` + strings.Repeat("[", 10000) + `}`,
		} {
			checkNoLeak(t, "register "+body[:min(len(body), 60)], e.postRaw("/register", "application/json", body))
		}
	})

	t.Run("error page and redirects", func(t *testing.T) {
		for _, q := range []string{
			"client_id=pub&redirect_uri=%zz",
			"client_id=pub&redirect_uri=http%3A%2F%2F%5B%3A%3A1&response_type=code",
			"client_id=%00&response_type=code",
			"client_id=pub&redirect_uri=" + url.QueryEscape(pubRedirect) + "&response_type=code&code_challenge=x&code_challenge_method=S256&resource=%3A%2F%2F",
			"client_id=pub&redirect_uri=" + url.QueryEscape(pubRedirect) + "&response_type=token",
			"client_id=https%3A%2F%2F%5B%3A%3A1%5D%2Fc.json&response_type=code",
		} {
			checkNoLeak(t, "authorize "+q, e.get("/authorize?"+q, "Accept", "text/html"))
			checkNoLeak(t, "authorize (JSON) "+q, e.get("/authorize?"+q))
		}
	})

	// The detail is kept for the operator, at debug.
	if !strings.Contains(e.logs.String(), "go-jose") || !strings.Contains(e.logs.String(), "unexpected signature algorithm") {
		t.Errorf("the log lost the library's detail")
	}
}
