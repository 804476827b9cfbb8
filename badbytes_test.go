package mcpauth_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store/postgres"
	"github.com/mcpauth/mcpauth/store/sqlite"
)

// storeKinds builds a server config edit per store: memory, SQLite and (when
// MCPAUTH_TEST_POSTGRES_DSN is set) PostgreSQL, each on a fresh database.
func storeKinds(t *testing.T) map[string]func(*testing.T) func(*mcpauth.Config) {
	kinds := map[string]func(*testing.T) func(*mcpauth.Config){
		"memory": func(*testing.T) func(*mcpauth.Config) { return func(*mcpauth.Config) {} },
		"sqlite": func(t *testing.T) func(*mcpauth.Config) {
			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "mcpauth.db"), sqlite.WithLogger(discard))
			if err != nil {
				t.Fatalf("sqlite.Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return func(c *mcpauth.Config) { c.Clients, c.Grants, c.Keys = s, s, s }
		},
	}
	if dsn := os.Getenv("MCPAUTH_TEST_POSTGRES_DSN"); dsn != "" {
		kinds["postgres"] = func(t *testing.T) func(*mcpauth.Config) {
			s := openPostgres(t, dsn)
			return func(c *mcpauth.Config) { c.Clients, c.Grants, c.Keys = s, s, s }
		}
	} else {
		t.Log("MCPAUTH_TEST_POSTGRES_DSN unset: PostgreSQL cases skipped")
	}
	return kinds
}

// openPostgres opens a store on a fresh schema, dropped when the test ends.
func openPostgres(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "mcpauth_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	})
	s, err := postgres.Open(t.Context(), dsn, postgres.WithSchema(schema), postgres.WithLogger(discard))
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBadBytesAreInvalidRequest: invalid UTF-8 and NUL in any parameter, in
// queries, forms, JSON bodies and Basic credentials, are a 400
// invalid_request at every endpoint and every store, never a store error
// (PostgreSQL's SQLSTATE 22021 was a 500).
func TestBadBytesAreInvalidRequest(t *testing.T) {
	good := authzQuery("pub", pubRedirect, newVerifier()).Encode()
	type req struct {
		name, method, path, contentType, body string
		hdr                                   []string
		page                                  bool // a browser error page at /authorize
	}
	reqs := []req{
		{name: "authorize client_id FF", method: "GET", path: "/authorize?" + good + "&client_id=%FF", page: true},
		{name: "authorize unknown client_id FF", method: "GET", path: "/authorize?response_type=code&client_id=%FFx", page: true},
		{name: "authorize client_id NUL", method: "GET", path: "/authorize?response_type=code&client_id=a%00b", page: true},
		{name: "authorize state FF", method: "GET", path: "/authorize?" + strings.Replace(good, "state=st-pub", "state=%FF", 1), page: true},
		{name: "authorize state NUL", method: "GET", path: "/authorize?" + strings.Replace(good, "state=st-pub", "state=x%00", 1), page: true},
		{name: "authorize redirect_uri FF", method: "GET", path: "/authorize?" + strings.Replace(good, "%2Fcb", "%2Fcb%FF", 1), page: true},
		{name: "authorize param name FF", method: "GET", path: "/authorize?" + good + "&%FF=1", page: true},
		{name: "authorize POST form NUL", method: "POST", path: "/authorize", contentType: "application/x-www-form-urlencoded", body: good + "&scope=read%00", page: true},
		{name: "token client_id FF", method: "POST", path: "/token", contentType: "application/x-www-form-urlencoded", body: "grant_type=authorization_code&code=x&code_verifier=y&client_id=%FF"},
		{name: "token code NUL", method: "POST", path: "/token", contentType: "application/x-www-form-urlencoded", body: "grant_type=authorization_code&code=x%00&code_verifier=y&client_id=pub"},
		{name: "token refresh FF", method: "POST", path: "/token", contentType: "application/x-www-form-urlencoded", body: "grant_type=refresh_token&refresh_token=%FF&client_id=pub"},
		{name: "token JSON raw FF", method: "POST", path: "/token", contentType: "application/json", body: "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"a\xffb\",\"client_id\":\"pub\"}"},
		{name: "token JSON NUL", method: "POST", path: "/token", contentType: "application/json", body: `{"grant_type":"refresh_token","refresh_token":"rt","client_id":"p\u0000ub"}`},
		{name: "token Basic FF", method: "POST", path: "/token", contentType: "application/x-www-form-urlencoded", body: "grant_type=refresh_token&refresh_token=rt",
			hdr: []string{"Authorization", basic("\xff", "s")}},
		{name: "token Basic NUL", method: "POST", path: "/token", contentType: "application/x-www-form-urlencoded", body: "grant_type=refresh_token&refresh_token=rt",
			hdr: []string{"Authorization", basic("a\x00", "s")}},
		{name: "register name NUL", method: "POST", path: "/register", contentType: "application/json",
			body: `{"redirect_uris":["https://app.example.com/cb"],"client_name":"x\u0000y","token_endpoint_auth_method":"none"}`},
		{name: "register raw FF", method: "POST", path: "/register", contentType: "application/json",
			body: "{\"redirect_uris\":[\"https://app.example.com/cb\"],\"client_name\":\"x\xffy\",\"token_endpoint_auth_method\":\"none\"}"},
		{name: "register key NUL", method: "POST", path: "/register", contentType: "application/json",
			body: `{"redirect_uris":["https://app.example.com/cb"],"x\u0000":"1","token_endpoint_auth_method":"none"}`},
		{name: "introspect token FF", method: "POST", path: "/introspect", contentType: "application/x-www-form-urlencoded", body: "token=%FF",
			hdr: []string{"Authorization", basic("conf", confSecret)}},
		{name: "introspect client_id NUL", method: "POST", path: "/introspect", contentType: "application/x-www-form-urlencoded", body: "token=t&client_id=%00&client_secret=x"},
		{name: "introspect JSON FF", method: "POST", path: "/introspect", contentType: "application/json", body: "{\"token\":\"\xff\"}",
			hdr: []string{"Authorization", basic("conf", confSecret)}},
		{name: "revoke token NUL", method: "POST", path: "/revoke", contentType: "application/x-www-form-urlencoded", body: "token=a%00&client_id=pub"},
		{name: "revoke client_id FF", method: "POST", path: "/revoke", contentType: "application/x-www-form-urlencoded", body: "token=a&client_id=%FF"},
	}
	for kind, setup := range storeKinds(t) {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, setup(t))
			for _, tt := range reqs {
				t.Run(tt.name, func(t *testing.T) {
					for _, accept := range []string{"application/json", "text/html"} {
						if accept == "text/html" && !tt.page {
							continue
						}
						r := e.req(tt.method, tt.path, strings.NewReader(tt.body))
						if tt.contentType != "" {
							r.Header.Set("Content-Type", tt.contentType)
						}
						r.Header.Set("Accept", accept)
						for i := 0; i+1 < len(tt.hdr); i += 2 {
							r.Header.Set(tt.hdr[i], tt.hdr[i+1])
						}
						resp := e.serve(r)
						if loc := resp.Header.Get("Location"); loc != "" {
							t.Fatalf("%s: redirected to %s", accept, loc)
						}
						if resp.StatusCode != http.StatusBadRequest {
							t.Fatalf("%s: status %d (%.300s), want 400", accept, resp.StatusCode, peek(resp))
						}
						if accept == "text/html" {
							if body := peek(resp); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "invalid_request") {
								t.Errorf("page: %q %.300s, want an HTML invalid_request page", resp.Header.Get("Content-Type"), body)
							}
							continue
						}
						if code, _ := oauthError(t, resp); code != "invalid_request" {
							t.Errorf("error %q (%s), want invalid_request", code, errDesc(t, resp))
						}
					}
				})
			}
			// The server still works on the same store afterwards.
			c, v := e.code("pub", pubRedirect, nil)
			if resp := e.postForm("/token", tokenReq("pub", c, v, pubRedirect)); resp.StatusCode != http.StatusOK {
				t.Errorf("token after bad input: %d %s", resp.StatusCode, peek(resp))
			}
		})
	}
}
