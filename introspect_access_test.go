package mcpauth_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/grantex/grantextest"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
)

// introspectAs posts token to /introspect with Basic credentials (none when
// id is "") and returns the raw body.
func introspectAs(t *testing.T, e *env, id, sec, token string) string {
	t.Helper()
	var hdr []string
	if id != "" {
		hdr = []string{"Authorization", basic(id, sec)}
	}
	resp := e.postForm("/introspect", url.Values{"token": {token}}, hdr...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect as %q: %d %s", id, resp.StatusCode, peek(resp))
	}
	return strings.TrimSpace(peek(resp))
}

// TestIntrospectOnlyOwnerAndResourceServers: an anonymously registered
// confidential client introspecting a token issued to another client gets
// {"active":false} (RFC 7662 §2.2, §4), for access and refresh tokens; the
// token's own client and a designated resource server (Config.Introspectors)
// see it. The old code answered every confidential client in full.
func TestIntrospectOnlyOwnerAndResourceServers(t *testing.T) {
	e := newEnv(t)
	ownerID, ownerSec := e.register("client_secret_basic")
	strangerID, strangerSec := e.register("client_secret_basic") // anyone may register one
	c, v := e.code(ownerID, pubRedirect, url.Values{"scope": {"read offline_access"}})
	resp := e.postForm("/token", tokenReq("", c, v, pubRedirect), "Authorization", basic(ownerID, ownerSec))
	if resp.StatusCode != 200 {
		t.Fatalf("token: %d %s", resp.StatusCode, peek(resp))
	}
	m := jsonBody(t, resp)
	at, rt := m["access_token"].(string), m["refresh_token"].(string)
	pubAT := e.tokens("pub", nil)["access_token"].(string)

	for _, tc := range []struct {
		name, token, id, sec string
		active               bool
	}{
		{"owner, access token", at, ownerID, ownerSec, true},
		{"owner, refresh token", rt, ownerID, ownerSec, true},
		{"resource server, access token", at, "conf", confSecret, true},
		{"resource server, refresh token", rt, "conf", confSecret, true},
		{"resource server, public client's token", pubAT, "conf", confSecret, true},
		{"stranger, access token", at, strangerID, strangerSec, false},
		{"stranger, refresh token", rt, strangerID, strangerSec, false},
		{"stranger, public client's token", pubAT, strangerID, strangerSec, false},
		{"static confidential client, not designated", at, weirdClientID, weirdSecret, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := introspectAs(t, e, tc.id, tc.sec, tc.token)
			if !tc.active {
				if body != `{"active":false}` {
					t.Errorf("got %s, want exactly {\"active\":false}", body)
				}
				return
			}
			if !strings.Contains(body, `"active":true`) || !strings.Contains(body, `"sub":"`+autoSubject+`"`) {
				t.Errorf("got %s, want the active token of %s", body, autoSubject)
			}
		})
	}
	// Withholding changed nothing: the tokens still work for their owner.
	if !e.active(at) || !e.active(rt) {
		t.Errorf("tokens inactive after a stranger's introspection")
	}
}

// TestIntrospectAnonymousAllowed pins the documented behaviour of the opt-in
// AllowAnonymousIntrospection: every caller, credentials or not, sees every
// live token in full (Introspectors restricts nothing then), and NewServer
// warns about it.
func TestIntrospectAnonymousAllowed(t *testing.T) {
	e := newEnv(t, func(c *mcpauth.Config) { c.AllowAnonymousIntrospection = true; c.Introspectors = nil })
	strangerID, strangerSec := e.register("client_secret_basic")
	at := e.tokens("pub", nil)["access_token"].(string)
	for _, id := range []string{"", strangerID} {
		if body := introspectAs(t, e, id, strangerSec, at); !strings.Contains(body, `"active":true`) {
			t.Errorf("caller %q: got %s, want active", id, body)
		}
	}
	if !strings.Contains(e.logs.String(), "AllowAnonymousIntrospection is set") {
		t.Errorf("no start-up warning about anonymous introspection")
	}
}

// TestIntrospectorsConfig: designated introspectors must be able to
// authenticate, and NewServer keeps its own copy of the list.
func TestIntrospectorsConfig(t *testing.T) {
	base := func(ids ...string) mcpauth.Config {
		return mcpauth.Config{Issuer: testIssuer, Scopes: []string{"read"}, Authenticator: mcpauthtest.AutoApprove("u"), Logger: discard,
			StaticClients: staticClients(), Introspectors: ids}
	}
	for _, ids := range [][]string{{""}, {"pub"}} {
		_, err := mcpauth.NewServer(base(ids...))
		var ce *mcpauth.ConfigError
		if !errors.As(err, &ce) || ce.Field != "Introspectors" {
			t.Errorf("Introspectors %q: got %v, want an Introspectors ConfigError", ids, err)
		}
	}
	cfg := base("conf")
	srv, err := mcpauth.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg.Introspectors[0] = "confpost" // the caller's later edit must not change who may introspect
	e := &env{t: t, srv: srv, issuer: testIssuer}
	at := e.tokens("pub", nil)["access_token"].(string)
	if body := introspectAs(t, e, "conf", confSecret, at); !strings.Contains(body, `"active":true`) {
		t.Errorf("designated conf: got %s, want active", body)
	}
	resp := e.postForm("/introspect", url.Values{"token": {at}, "client_id": {"confpost"}, "client_secret": {confSecret}})
	if body := strings.TrimSpace(peek(resp)); body != `{"active":false}` {
		t.Errorf("confpost after the caller's edit: got %s, want inactive", body)
	}
}

// TestManagedIntrospectOwner: Grantex tokens carry no client_id; the owner
// is found through our grant record, so in managed mode too only the owner
// and designated resource servers see a token.
func TestManagedIntrospectOwner(t *testing.T) {
	gx := grantextest.NewServer(grantextest.Options{})
	t.Cleanup(gx.Close)
	client, err := gx.NewClient(grantextest.SandboxAPIKey, grantextest.DefaultAgentID) // approves at once
	if err != nil {
		t.Fatal(err)
	}
	srv, ts := e2eServer(t, func(c *mcpauth.Config) {
		c.Grantex = mcpauth.GrantexConfig{Client: client, AgentID: grantextest.DefaultAgentID, Issuer: gx.Issuer()}
		c.StaticClients = []store.Client{
			{ID: "owner", ClientSecret: "owner-secret", ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: "client_secret_post", RedirectURIs: []string{managedRedirect}}},
			{ID: "stranger", ClientSecret: "stranger-secret", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{"https://stranger.example/cb"}}},
			{ID: "resource-server", ClientSecret: "rs-secret", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{"https://rs.example/cb"}}},
		}
		c.Introspectors = []string{"resource-server"}
	})
	f := &managedFixture{srv: srv, ts: ts, resource: ts.URL + "/mcp", conf: &oauth2.Config{
		ClientID: "owner", ClientSecret: "owner-secret", RedirectURL: managedRedirect, Scopes: []string{"tools:read", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.URL + "/authorize", TokenURL: ts.URL + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}}
	verifier := oauth2.GenerateVerifier()
	br, _ := f.login(t, verifier)
	tok := f.exchange(t, br, verifier)
	if _, c := jwtParts(t, tok.AccessToken); c["client_id"] != nil {
		t.Fatalf("the fake's token carries client_id %v: this test needs one without", c["client_id"])
	}
	ask := func(id, sec, token string) bool {
		var form url.Values
		var hid, hsec string
		if id == "owner" { // client_secret_post
			form = url.Values{"token": {token}, "client_id": {id}, "client_secret": {sec}}
		} else {
			form, hid, hsec = url.Values{"token": {token}}, id, sec
		}
		status, m := postForm(t, ts.URL+"/introspect", form, hid, hsec)
		if status != http.StatusOK {
			t.Fatalf("introspect as %s: %d %v", id, status, m)
		}
		if m["active"] != true && len(m) != 1 {
			t.Errorf("inactive answer with members: %v", m)
		}
		return m["active"] == true
	}
	for _, tc := range []struct {
		name, id, sec, token string
		want                 bool
	}{
		{"owner, access token", "owner", "owner-secret", tok.AccessToken, true},
		{"owner, refresh token", "owner", "owner-secret", tok.RefreshToken, true},
		{"resource server, access token", "resource-server", "rs-secret", tok.AccessToken, true},
		{"stranger, access token", "stranger", "stranger-secret", tok.AccessToken, false},
		{"stranger, refresh token", "stranger", "stranger-secret", tok.RefreshToken, false},
	} {
		if got := ask(tc.id, tc.sec, tc.token); got != tc.want {
			t.Errorf("%s: active %v, want %v", tc.name, got, tc.want)
		}
	}
}
