package mcpauth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/store"
)

const adminSecret = "operator-secret-0123456789abcdef"

// adminEnv is env with the admin API mounted at AdminPath, as the
// standalone server mounts it, and admin among the scopes.
type adminEnv struct {
	*env
	h      http.Handler
	events <-chan mcpauth.Event
}

func newAdminEnv(t *testing.T) *adminEnv {
	e := newEnv(t, func(c *mcpauth.Config) { c.Scopes = append(c.Scopes, mcpauth.AdminScope) })
	mux := http.NewServeMux()
	mux.Handle("/", e.srv)
	mux.Handle(mcpauth.AdminPath+"/", e.srv.AdminHandler(mcpauth.AdminOptions{OperatorSecret: adminSecret}))
	events, cancel := e.srv.SubscribeEvents(1000)
	t.Cleanup(cancel)
	return &adminEnv{env: e, h: mux, events: events}
}

// call sends an admin request with auth as the bearer credential ("" none).
func (a *adminEnv) call(method, path, auth, body string) *http.Response {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, a.issuer+mcpauth.AdminPath+path, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		r.Header.Set("Authorization", "Bearer "+auth)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, r)
	if rec.Code >= 500 {
		a.t.Errorf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	return rec.Result()
}

// drain returns the events emitted so far.
func (a *adminEnv) drain() []mcpauth.Event {
	var out []mcpauth.Event
	for {
		select {
		case ev := <-a.events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func TestAdminAuthentication(t *testing.T) {
	a := newAdminEnv(t)
	adminTok := a.tokens("pub", url.Values{"scope": {"read " + mcpauth.AdminScope}, "resource": {""}})["access_token"].(string)
	readTok := a.tokens("pub", url.Values{"scope": {"read"}, "resource": {""}})["access_token"].(string)
	otherAud := a.tokens("pub", url.Values{"scope": {"read " + mcpauth.AdminScope}})["access_token"].(string) // for resourceA
	cases := []struct {
		name, auth string
		status     int
		code       string
	}{
		{"none", "", 401, "invalid_token"},
		{"wrong secret", adminSecret + "x", 401, "invalid_token"},
		{"garbage", "not-a-token", 401, "invalid_token"},
		{"token without admin", readTok, 403, "insufficient_scope"},
		{"admin token for another resource", otherAud, 401, "invalid_token"},
		{"operator secret", adminSecret, 200, ""},
		{"admin token", adminTok, 200, ""},
	}
	for _, c := range cases {
		for _, path := range []string{"/clients", "/grants"} {
			resp := a.call(http.MethodGet, path, c.auth, "")
			if resp.StatusCode != c.status {
				t.Errorf("%s %s: %d %s, want %d", c.name, path, resp.StatusCode, peek(resp), c.status)
				continue
			}
			if c.status == 200 {
				continue
			}
			if code, _ := oauthError(t, resp); code != c.code {
				t.Errorf("%s %s: error %q, want %q", c.name, path, code, c.code)
			}
			if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") || !strings.Contains(ch, `scope="admin"`) {
				t.Errorf("%s %s: challenge %q", c.name, path, ch)
			}
		}
	}
	// Refused calls change nothing and are audited.
	if resp := a.call(http.MethodDelete, "/clients/pub", "", ""); resp.StatusCode != 401 {
		t.Errorf("unauthenticated DELETE: %d", resp.StatusCode)
	}
	var refused, listed int
	for _, ev := range a.drain() {
		switch ev.Type {
		case mcpauth.EventAdminRefused:
			refused++
		case mcpauth.EventAdminClientsListed, mcpauth.EventAdminGrantsListed:
			listed++
			if ev.Actor != "operator" && ev.Actor != "token of "+autoSubject {
				t.Errorf("event %s has actor %q", ev.Type, ev.Actor)
			}
		}
	}
	if refused != 11 || listed != 4 {
		t.Errorf("audited %d refusals and %d lists, want 11 and 4", refused, listed)
	}
}

func TestAdminBadRequests(t *testing.T) {
	a := newAdminEnv(t)
	cases := []struct {
		method, path, body string
		status             int
	}{
		{http.MethodGet, "/clients?limit=0", "", 400},
		{http.MethodGet, "/clients?limit=abc", "", 400},
		{http.MethodGet, "/clients?limit=1001", "", 400},
		{http.MethodGet, "/grants?cursor=%21%21", "", 400},
		{http.MethodPut, "/clients", "", 405},
		{http.MethodPost, "/grants/x", "", 405},
		{http.MethodGet, "/nothing", "", 404},
		{http.MethodGet, "/clients/no-such", "", 404},
		{http.MethodDelete, "/clients/no-such", "", 404},
		{http.MethodDelete, "/clients/pub", "", 404}, // static clients live in the Config
		{http.MethodDelete, "/grants/no-such", "", 404},
		{http.MethodPost, "/clients", `{"redirect_uris":["http://evil.example/cb"]}`, 400},
		{http.MethodPost, "/clients", `not json`, 400},
	}
	for _, c := range cases {
		resp := a.call(c.method, c.path, adminSecret, c.body)
		if resp.StatusCode != c.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d %s %s, want %d JSON", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), peek(resp), c.status)
		}
	}
}

func TestAdminClientsPaginationAndAudit(t *testing.T) {
	a := newAdminEnv(t)
	var created []string
	secrets := map[string]string{}
	for i := range 5 {
		resp := a.call(http.MethodPost, "/clients", adminSecret,
			`{"client_name":"c`+string(rune('0'+i))+`","redirect_uris":["https://app.example.com/cb"]}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", resp.StatusCode, peek(resp))
		}
		m := jsonBody(t, resp)
		if sec, _ := m["client_secret"].(string); sec == "" {
			t.Fatalf("create answered no secret: %v", m)
		}
		created = append(created, m["client_id"].(string))
		secrets[m["client_id"].(string)] = m["client_secret"].(string)
	}
	slices.Sort(created)
	var listed []string
	cursor, pages := "", 0
	for {
		resp := a.call(http.MethodGet, "/clients?limit=2&cursor="+url.QueryEscape(cursor), adminSecret, "")
		m := jsonBody(t, resp)
		for _, c := range m["clients"].([]any) {
			cm := c.(map[string]any)
			if _, ok := cm["client_secret"]; ok {
				t.Errorf("list shows a secret")
			}
			listed = append(listed, cm["client_id"].(string))
		}
		pages++
		cursor, _ = m["next_cursor"].(string)
		if cursor == "" {
			break
		}
	}
	if !slices.Equal(listed, created) || pages != 3 {
		t.Errorf("listed %q in %d pages, want %q in 3", listed, pages, created)
	}
	var first []mcpauth.EventType
	for _, ev := range a.drain() {
		if ev.Actor != "operator" {
			t.Errorf("event %s actor %q", ev.Type, ev.Actor)
		}
		first = append(first, ev.Type)
	}
	wantFirst := []mcpauth.EventType{mcpauth.EventClientRegistered, mcpauth.EventClientRegistered, mcpauth.EventClientRegistered,
		mcpauth.EventClientRegistered, mcpauth.EventClientRegistered, mcpauth.EventAdminClientsListed,
		mcpauth.EventAdminClientsListed, mcpauth.EventAdminClientsListed}
	if !slices.Equal(first, wantFirst) {
		t.Errorf("events %q, want %q", first, wantFirst)
	}
	// The secret shown once works at /token.
	code, verifier := a.code(created[1], "https://app.example.com/cb", nil)
	form := tokenReq("", code, verifier, "https://app.example.com/cb")
	if resp := a.postForm("/token", form, "Authorization", basic(created[1], secrets[created[1]])); resp.StatusCode != http.StatusOK {
		t.Fatalf("token with the created client's secret: %d %s", resp.StatusCode, peek(resp))
	}
	a.drain() // the token's own events
	if resp := a.call(http.MethodDelete, "/clients/"+created[0], adminSecret, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, peek(resp))
	}
	if resp := a.call(http.MethodGet, "/clients/"+created[0], adminSecret, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleted client still readable: %d", resp.StatusCode)
	}
	if resp := a.call(http.MethodGet, "/clients/"+created[1], adminSecret, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("another client: %d", resp.StatusCode)
	}
	var types []mcpauth.EventType
	for _, ev := range a.drain() {
		if ev.Actor != "operator" {
			t.Errorf("event %s actor %q", ev.Type, ev.Actor)
		}
		types = append(types, ev.Type)
	}
	want := []mcpauth.EventType{mcpauth.EventClientDeleted, mcpauth.EventAdminClientRead}
	if !slices.Equal(types, want) {
		t.Errorf("events %q, want %q", types, want)
	}
}

// TestAdminRevokeGrant: a grant revoked through the admin API stops its
// tokens at once (RequireMCPAuth with Local, /introspect, refresh).
func TestAdminRevokeGrant(t *testing.T) {
	a := newAdminEnv(t)
	toks := a.tokens("pub", nil)
	other := a.tokens("other", nil)
	mcp := protectedByLocal(a.env)
	if got := mcp(toks["access_token"].(string)); got != http.StatusOK {
		t.Fatalf("before revocation: %d", got)
	}
	list := func(q string) []map[string]any {
		m := jsonBody(t, a.call(http.MethodGet, "/grants?"+q, adminSecret, ""))
		var out []map[string]any
		for _, g := range m["grants"].([]any) {
			out = append(out, g.(map[string]any))
		}
		return out
	}
	bySubject := list("subject=" + autoSubject)
	byClient := list("client_id=pub")
	if len(bySubject) != 2 || len(byClient) != 1 || byClient[0]["sub"] != autoSubject {
		t.Fatalf("grants by subject %v, by client %v", bySubject, byClient)
	}
	gid := byClient[0]["id"].(string)
	if resp := a.call(http.MethodDelete, "/grants/"+url.PathEscape(gid), adminSecret, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", resp.StatusCode, peek(resp))
	}
	if got := mcp(toks["access_token"].(string)); got != http.StatusUnauthorized {
		t.Errorf("revoked grant's access token gets %d, want 401", got)
	}
	if a.active(toks["access_token"].(string)) {
		t.Errorf("/introspect says the revoked grant's token is active")
	}
	if resp := a.refresh("pub", toks["refresh_token"].(string), nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("refresh of the revoked grant: %d", resp.StatusCode)
	}
	if got := mcp(other["access_token"].(string)); got != http.StatusOK {
		t.Errorf("another grant's token gets %d after revoking one", got)
	}
	if g := list("client_id=pub"); len(g) != 1 || g[0]["revoked_at"] == nil {
		t.Errorf("the revoked grant is listed as %v", g)
	}
	// Revoking again succeeds and changes nothing.
	if resp := a.call(http.MethodDelete, "/grants/"+url.PathEscape(gid), adminSecret, ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("second revoke: %d", resp.StatusCode)
	}
	var revokedEvents int
	for _, ev := range a.drain() {
		if ev.Type == mcpauth.EventGrantRevoked && ev.GrantID == gid && ev.Actor == "operator" {
			revokedEvents++
		}
	}
	if revokedEvents != 1 {
		t.Errorf("%d grant.revoked events by the operator, want 1", revokedEvents)
	}
}

// TestAdminMaxPageSize: AdminOptions.MaxPageSize bounds ?limit= and the
// default page.
func TestAdminMaxPageSize(t *testing.T) {
	e := newEnv(t)
	h := e.srv.AdminHandler(mcpauth.AdminOptions{OperatorSecret: adminSecret, MaxPageSize: 2})
	for i := range 3 {
		if err := e.clients.SetClient(t.Context(), &store.Client{ID: "c" + string(rune('0'+i)), ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: "none"}}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(q string) *http.Response {
		r := httptest.NewRequest(http.MethodGet, testIssuer+mcpauth.AdminPath+"/clients"+q, nil)
		r.Header.Set("Authorization", "Bearer "+adminSecret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Result()
	}
	if resp := get("?limit=3"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("limit above MaxPageSize: %d", resp.StatusCode)
	}
	m := jsonBody(t, get(""))
	if n := len(m["clients"].([]any)); n != 2 || m["next_cursor"] == nil {
		t.Errorf("default page holds %d clients (next %v), want 2 and a cursor", n, m["next_cursor"])
	}
}

// TestAdminRateLimited: the admin API counts against the default rate per
// client IP, so the operator secret cannot be guessed at full speed.
func TestAdminRateLimited(t *testing.T) {
	e := newEnv(t, func(c *mcpauth.Config) {
		c.RateLimits = &limits.RateLimits{Limits: map[string]limits.Rate{limits.EndpointDefault: {Requests: 3, Per: time.Minute}}}
	})
	h := e.srv.AdminHandler(mcpauth.AdminOptions{OperatorSecret: adminSecret})
	var codes []int
	for range 5 {
		r := httptest.NewRequest(http.MethodGet, testIssuer+mcpauth.AdminPath+"/clients", nil)
		r.Header.Set("Authorization", "Bearer wrong-guess")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		codes = append(codes, rec.Code)
	}
	if !slices.Equal(codes, []int{401, 401, 401, 429, 429}) {
		t.Errorf("statuses %v, want three 401 then 429", codes)
	}
}

// TestAdminReadIsNotUse: reading a client through the admin API does not
// record a use of it (which would postpone its idle expiry).
func TestAdminReadIsNotUse(t *testing.T) {
	a := newAdminEnv(t)
	if err := a.clients.SetClient(t.Context(), &store.Client{ID: "idle", IssuedAt: testEpoch.Add(-30 * 24 * time.Hour), ClientMetadata: store.ClientMetadata{TokenEndpointAuthMethod: "none"}}); err != nil {
		t.Fatal(err)
	}
	if resp := a.call(http.MethodGet, "/clients/idle", adminSecret, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	c, err := a.clients.GetClient(t.Context(), "idle")
	if err != nil || !c.LastUsedAt.IsZero() {
		t.Errorf("after an admin read the client's LastUsedAt is %v (%v), want unset", c.LastUsedAt, err)
	}
}
