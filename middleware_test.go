package mcpauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const testPRM = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"

// whoami answers 200 with the grant's subject and scopes.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	g, ok := GrantFromContext(r.Context())
	if !ok {
		http.Error(w, "no grant", http.StatusInternalServerError)
		return
	}
	w.Write([]byte(g.Subject + " " + strings.Join(g.Scopes, ",")))
})

func TestMiddlewareChallenges(t *testing.T) {
	as := newTestAS(t)
	h := RequireMCPAuth(&RequireMCPAuthOptions{
		VerifierOptions: VerifierOptions{Issuer: as.issuer, Audience: testAudience, Logger: quietLog},
		RequiredScopes:  []string{"tools:read", "offline_access"},
	})(whoami)
	bearer := func(tok string) map[string][]string { return map[string][]string{"Authorization": {"Bearer " + tok}} }
	now := time.Now()
	noScope := as.token("ES256", func(h, c map[string]any) { c["scope"] = "files"; c["scp"] = []string{"files"} })

	const (
		prm      = `resource_metadata="` + testPRM + `"`
		scope    = `scope="tools:read"`
		noCreds  = `Bearer ` + scope + `, ` + prm
		invalidT = `Bearer error="invalid_token", error_description=`
		badReq   = `Bearer error="invalid_request", error_description=`
	)
	tests := []struct {
		name       string
		target     string
		header     map[string][]string
		wantStatus int
		wantChal   string // exact WWW-Authenticate
		wantBody   string // JSON error code, or the 200 body
	}{
		{"valid", "/mcp", bearer(as.token("ES256", nil)), 200, "", "alice tools:read,files"},
		{"lower-case scheme", "/mcp", map[string][]string{"Authorization": {"bearer " + as.token("EdDSA", nil)}}, 200, "", "alice tools:read,files"},
		{"broader scope", "/mcp", bearer(as.token("RS256", func(h, c map[string]any) { c["scope"] = "tools"; delete(c, "scp") })), 200, "", "alice tools"},
		{"wildcard scope", "/mcp", bearer(as.token("RS256", func(h, c map[string]any) { delete(c, "scope"); c["scp"] = []string{"tools:*"} })), 200, "", "alice tools:*"},
		{"no Authorization", "/mcp", nil, 401, noCreds, "invalid_token"},
		{"Basic scheme", "/mcp", map[string][]string{"Authorization": {"Basic YTpi"}}, 401, noCreds, "invalid_token"},
		{"empty Authorization", "/mcp", map[string][]string{"Authorization": {""}}, 401, noCreds, "invalid_token"},
		{"Bearer without token", "/mcp", map[string][]string{"Authorization": {"Bearer"}}, 400, badReq + `"malformed Authorization header", ` + scope + `, ` + prm, "invalid_request"},
		{"Bearer with two tokens", "/mcp", map[string][]string{"Authorization": {"Bearer a b"}}, 400, badReq + `"malformed Authorization header", ` + scope + `, ` + prm, "invalid_request"},
		{"Bearer with a bad character", "/mcp", map[string][]string{"Authorization": {"Bearer a,b"}}, 400, badReq + `"malformed Authorization header", ` + scope + `, ` + prm, "invalid_request"},
		{"two Authorization headers", "/mcp", map[string][]string{"Authorization": {"Bearer a", "Bearer b"}}, 400, badReq + `"more than one Authorization header", ` + scope + `, ` + prm, "invalid_request"},
		{"token in the query", "/mcp?access_token=" + as.token("ES256", nil), nil, 400, badReq + `"access tokens are not accepted in the URL; send an Authorization: Bearer header", ` + scope + `, ` + prm, "invalid_request"},
		{"token in the query and header", "/mcp?x=1&access_token=abc", bearer(as.token("ES256", nil)), 400, badReq + `"access tokens are not accepted in the URL; send an Authorization: Bearer header", ` + scope + `, ` + prm, "invalid_request"},
		{"garbage token", "/mcp", bearer("not.a.jwt"), 401, invalidT + `"malformed token", ` + scope + `, ` + prm, "invalid_token"},
		{"expired", "/mcp", bearer(as.token("ES256", func(h, c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })), 401, invalidT + `"token expired", ` + scope + `, ` + prm, "invalid_token"},
		{"not yet valid", "/mcp", bearer(as.token("ES256", func(h, c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })), 401, invalidT + `"token not yet valid", ` + scope + `, ` + prm, "invalid_token"},
		{"wrong issuer", "/mcp", bearer(as.token("ES256", func(h, c map[string]any) { c["iss"] = "https://evil.example" })), 401, invalidT + `"token issuer not accepted", ` + scope + `, ` + prm, "invalid_token"},
		{"wrong audience", "/mcp", bearer(as.token("ES256", func(h, c map[string]any) { c["aud"] = "https://evil.example/mcp" })), 401, invalidT + `"token is not meant for this resource", ` + scope + `, ` + prm, "invalid_token"},
		{"bad signature", "/mcp", bearer(tamper(as.token("ES256", nil), 1)), 401, invalidT + `"invalid token signature", ` + scope + `, ` + prm, "invalid_token"},
		{"missing scope", "/mcp", bearer(noScope), 403, `Bearer error="insufficient_scope", error_description="the token lacks a required scope: tools:read", ` + scope + `, ` + prm, "insufficient_scope"},
		{"narrower scope", "/mcp", bearer(as.token("ES256", func(h, c map[string]any) { c["scope"] = "tools:read:one"; delete(c, "scp") })), 403, `Bearer error="insufficient_scope", error_description="the token lacks a required scope: tools:read", ` + scope + `, ` + prm, "insufficient_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", tt.target, nil)
			for k, vs := range tt.header {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			chal := w.Header().Get("WWW-Authenticate")
			if w.Code != tt.wantStatus || chal != tt.wantChal {
				t.Fatalf("got (%d, %s), want (%d, %s)", w.Code, chal, tt.wantStatus, tt.wantChal)
			}
			if w.Code == 200 {
				if got := w.Body.String(); got != tt.wantBody {
					t.Errorf("body = %q, want %q", got, tt.wantBody)
				}
				return
			}
			var body struct {
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != tt.wantBody || body.ErrorDescription == "" {
				t.Errorf("body = %s (%v), want error %q", w.Body, err, tt.wantBody)
			}
			if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
				t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
			}
		})
	}
}

func TestMiddlewareColdStart503(t *testing.T) {
	as := newTestAS(t)
	as.status = 503
	h := RequireMCPAuth(&RequireMCPAuthOptions{VerifierOptions: VerifierOptions{Issuer: as.issuer, Audience: testAudience, Logger: quietLog}})(whoami)
	for range 3 {
		r := httptest.NewRequest("POST", "/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+as.token("ES256", nil))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `"temporarily_unavailable"`) {
			t.Fatalf("got %d Retry-After=%q %s; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	}
	if got := as.hits.Load(); got != 1 {
		t.Errorf("JWKS fetches = %d, want 1 (backoff)", got)
	}
}

func TestMiddlewareLocalRevocation(t *testing.T) {
	local := newFakeLocal()
	local.issue("tok-a", localGrant("ja", "ga"))
	h := RequireMCPAuth(&RequireMCPAuthOptions{VerifierOptions: VerifierOptions{Local: local, Audience: testAudience, Logger: quietLog}, RequiredScopes: []string{"tools:read"}})(whoami)
	do := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/mcp", nil)
		r.Header.Set("Authorization", "Bearer tok-a")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for range 3 {
		if w := do(); w.Code != 200 {
			t.Fatalf("before revocation: %d %s", w.Code, w.Body)
		}
	}
	local.revoke("", "ga")
	w := do()
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("after revocation: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	// A store outage in the local authority is a 503, not a 401 and never a 200.
	local.err = ErrUnavailable
	local.issue("tok-b", localGrant("jb", "gb"))
	r := httptest.NewRequest("POST", "/mcp", nil)
	r.Header.Set("Authorization", "Bearer tok-b")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("store down: %d Retry-After=%q", w.Code, w.Header().Get("Retry-After"))
	}
}

func TestMiddlewareOptions(t *testing.T) {
	as := newTestAS(t)
	v := as.verifier(t, nil)
	noAud, err := NewVerifier(VerifierOptions{Issuer: as.issuer})
	if err != nil {
		t.Fatal(err)
	}
	defer noAud.Close()
	tests := []struct {
		name string
		opts *RequireMCPAuthOptions
		ok   bool
	}{
		{"nil", nil, false},
		{"no audience", &RequireMCPAuthOptions{VerifierOptions: VerifierOptions{Issuer: as.issuer}}, false},
		{"verifier without audience", &RequireMCPAuthOptions{Verifier: noAud}, false},
		{"verifier without audience, audience given", &RequireMCPAuthOptions{VerifierOptions: VerifierOptions{Audience: testAudience}, Verifier: noAud}, true},
		{"verifier", &RequireMCPAuthOptions{Verifier: v}, true},
		{"bad scope", &RequireMCPAuthOptions{Verifier: v, RequiredScopes: []string{`a"b`}}, false},
		{"empty scope", &RequireMCPAuthOptions{Verifier: v, ChallengeScopes: []string{""}}, false},
		{"HS256", &RequireMCPAuthOptions{VerifierOptions: VerifierOptions{Issuer: as.issuer, Audience: testAudience, Algorithms: []string{"HS256"}}}, false},
		{"relative audience", &RequireMCPAuthOptions{VerifierOptions: VerifierOptions{Issuer: as.issuer, Audience: "/mcp"}}, false},
	}
	for _, tt := range tests {
		if mw, err := NewRequireMCPAuth(tt.opts); (err == nil) != tt.ok || (mw != nil) != tt.ok {
			t.Errorf("%s: NewRequireMCPAuth err = %v, want ok=%v", tt.name, err, tt.ok)
		}
		func() {
			defer func() {
				if r := recover(); (r == nil) != tt.ok {
					t.Errorf("%s: panic = %v, want ok=%v", tt.name, r, tt.ok)
				}
			}()
			RequireMCPAuth(tt.opts)
		}()
	}
}

// TestMiddlewareRequestScopes: per-request scopes add to RequiredScopes,
// and the 403 names all of them; RequestScopes errors refuse the request.
func TestMiddlewareRequestScopes(t *testing.T) {
	as := newTestAS(t)
	h := RequireMCPAuth(&RequireMCPAuthOptions{
		VerifierOptions: VerifierOptions{Issuer: as.issuer, Audience: testAudience, Logger: quietLog},
		RequiredScopes:  []string{"tools:read"},
		RequestScopes: func(r *http.Request) ([]string, error) {
			switch r.URL.Query().Get("op") {
			case "exec":
				return []string{"tools:execute", "tools:read", "offline_access", "tools:execute"}, nil
			case "covered":
				return []string{"files"}, nil
			case "big":
				return nil, &http.MaxBytesError{Limit: 10}
			case "bad":
				return nil, errors.New("not JSON-RPC")
			case "invalid":
				return []string{"a b"}, nil
			}
			return nil, nil
		},
	})(whoami)
	const prm = `resource_metadata="` + testPRM + `"`
	tests := []struct {
		op, scope  string
		wantStatus int
		wantChal   string
	}{
		{"", "tools:read", 200, ""},
		{"exec", "tools:read", 403, `Bearer error="insufficient_scope", error_description="the token lacks a required scope: tools:read tools:execute", scope="tools:read tools:execute", ` + prm},
		{"exec", "tools:execute", 403, `Bearer error="insufficient_scope", error_description="the token lacks a required scope: tools:read tools:execute", scope="tools:read tools:execute", ` + prm},
		{"exec", "tools:read tools:execute", 200, ""},
		{"exec", "tools", 200, ""},
		{"covered", "tools:read files", 200, ""},
		{"", "files", 403, `Bearer error="insufficient_scope", error_description="the token lacks a required scope: tools:read", scope="tools:read", ` + prm},
		{"big", "tools:read", 413, ""},
		{"bad", "tools:read", 400, `Bearer error="invalid_request", error_description="not JSON-RPC", scope="tools:read", ` + prm},
		{"invalid", "tools:read", 500, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/mcp?op="+tt.op, nil)
		r.Header.Set("Authorization", "Bearer "+as.token("ES256", func(h, c map[string]any) { c["scope"] = tt.scope; delete(c, "scp") }))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Header().Get("WWW-Authenticate"); w.Code != tt.wantStatus || got != tt.wantChal {
			t.Errorf("op %q, scope %q: got (%d, %s), want (%d, %s)", tt.op, tt.scope, w.Code, got, tt.wantStatus, tt.wantChal)
		}
	}
	// RequestScopes never runs for a request without a valid token.
	called := false
	h = RequireMCPAuth(&RequireMCPAuthOptions{
		VerifierOptions: VerifierOptions{Issuer: as.issuer, Audience: testAudience, Logger: quietLog},
		RequestScopes:   func(*http.Request) ([]string, error) { called = true; return nil, nil },
	})(whoami)
	for _, auth := range []string{"", "Bearer garbage"} {
		r := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{}`))
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if called {
		t.Error("RequestScopes ran for an unauthenticated request")
	}
}

func TestMiddlewareChallengeScopesAndURL(t *testing.T) {
	as := newTestAS(t)
	h := RequireMCPAuth(&RequireMCPAuthOptions{
		VerifierOptions:     VerifierOptions{Issuer: as.issuer, Audience: testAudience, Logger: quietLog},
		RequiredScopes:      []string{"mcp:write"},
		ChallengeScopes:     []string{"mcp:basic", "offline_access", "mcp:basic"},
		ResourceMetadataURL: `https://mcp.example.com/prm?x="q"\`,
	})(whoami)
	tests := []struct {
		token      string
		wantStatus int
		want       string
	}{
		{"", 401, `Bearer scope="mcp:basic", resource_metadata="https://mcp.example.com/prm?x=\"q\"\\"`},
		{as.token("ES256", nil), 403, `Bearer error="insufficient_scope", error_description="the token lacks a required scope: mcp:write", scope="mcp:write", resource_metadata="https://mcp.example.com/prm?x=\"q\"\\"`},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/mcp", nil)
		if tt.token != "" {
			r.Header.Set("Authorization", "Bearer "+tt.token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Header().Get("WWW-Authenticate"); w.Code != tt.wantStatus || got != tt.want {
			t.Errorf("got (%d, %s), want (%d, %s)", w.Code, got, tt.wantStatus, tt.want)
		}
	}
}

// TestMiddlewareExtraAudience: a shared Verifier plus a per-route Audience
// must satisfy both.
func TestMiddlewareExtraAudience(t *testing.T) {
	as := newTestAS(t)
	v := as.verifier(t, nil)
	h := RequireMCPAuth(&RequireMCPAuthOptions{VerifierOptions: VerifierOptions{Audience: testAudience + "/other", Logger: quietLog}, Verifier: v})(whoami)
	r := httptest.NewRequest("POST", "/mcp", nil)
	r.Header.Set("Authorization", "Bearer "+as.token("ES256", nil))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Fatalf("token for %s on %s/other: %d", testAudience, testAudience, w.Code)
	}
}

func TestMiddlewareParseBearer(t *testing.T) {
	tests := []struct {
		in    string
		token string
		err   error
	}{
		{"Bearer abc", "abc", nil},
		{"bearer abc", "abc", nil},
		{"BEARER abc", "abc", nil},
		{"Bearer   abc", "abc", nil},
		{"  Bearer abc  ", "abc", nil},
		{"Bearer a.b-c_d~e+f/g==", "a.b-c_d~e+f/g==", nil},
		{"Bearer ==", "", errMalformedBearer},
		{"Bearer a=b", "", errMalformedBearer},
		{"Bearer a b", "", errMalformedBearer},
		{"Bearer a,b", "", errMalformedBearer},
		{"Bearer \"abc\"", "", errMalformedBearer},
		{"Bearer", "", errMalformedBearer},
		{"Bearer ", "", errMalformedBearer},
		{"Bearer\tabc", "", errMalformedBearer},
		{"Bearer abc\x00", "", errMalformedBearer},
		{"Bearer ábc", "", errMalformedBearer},
		{"Basic YTpi", "", errNotBearer},
		{"Bearerabc", "", errNotBearer},
		{"DPoP abc", "", errNotBearer},
		{"", "", errNotBearer},
	}
	for _, tt := range tests {
		tok, err := parseBearer(tt.in)
		if tok != tt.token || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("parseBearer(%q) = (%q, %v), want (%q, %v)", tt.in, tok, err, tt.token, tt.err)
		}
	}
}

func TestMiddlewareBearerChallenge(t *testing.T) {
	tests := []struct {
		code, desc, scope, prm string
		want                   string
	}{
		{"", "ignored", "", "https://x/prm", `Bearer resource_metadata="https://x/prm"`},
		{"", "", "a b", "", `Bearer scope="a b"`},
		{"invalid_token", `say "hi"\`, "", "https://x", `Bearer error="invalid_token", error_description="say 'hi''", resource_metadata="https://x"`},
		{"invalid_token", "ü\n", "", "", `Bearer error="invalid_token", error_description="'''"`},
		{"", "", "", "https://x/\"\x01é", `Bearer resource_metadata="https://x/\"???"`},
	}
	for _, tt := range tests {
		if got := bearerChallenge(tt.code, tt.desc, tt.scope, tt.prm); got != tt.want {
			t.Errorf("bearerChallenge(%q, %q, %q, %q) = %s, want %s", tt.code, tt.desc, tt.scope, tt.prm, got, tt.want)
		}
	}
}

func TestGrantFromContext(t *testing.T) {
	if _, ok := GrantFromContext(context.Background()); ok {
		t.Error("empty context has a grant")
	}
	if _, ok := GrantFromContext(ContextWithGrant(context.Background(), nil)); ok {
		t.Error("nil grant reported")
	}
	g := &Grant{Subject: "bob"}
	if got, ok := GrantFromContext(ContextWithGrant(context.Background(), g)); !ok || got != g {
		t.Errorf("GrantFromContext = %v, %v", got, ok)
	}
}

// FuzzMiddlewareAuthorization checks the Authorization header parser: what
// it accepts is exactly "Bearer" 1*SP b64token, and the token is a suffix.
func FuzzMiddlewareAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Basic x", "Bearer  a==", "Bearer a b", "", "Bearer\t", "Bearer ="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := parseBearer(h)
		if err != nil {
			if tok != "" {
				t.Fatalf("token %q with error %v", tok, err)
			}
			return
		}
		trimmed := strings.Trim(h, " \t")
		if !strings.HasSuffix(trimmed, " "+tok) || !strings.EqualFold(trimmed[:6], "bearer") {
			t.Fatalf("parseBearer(%q) = %q", h, tok)
		}
		body := strings.TrimRight(tok, "=")
		if body == "" || strings.ContainsFunc(body, func(r rune) bool { return r > 0x7f || !isB64TokenChar(byte(r)) }) {
			t.Fatalf("parseBearer(%q) accepted %q", h, tok)
		}
		chal := bearerChallenge("invalid_token", h, tok, h)
		if strings.ContainsAny(chal, "\r\n\x00") {
			t.Fatalf("challenge %q has control characters", chal)
		}
	})
}
