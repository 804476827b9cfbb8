package main

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestIntrospectorFlag(t *testing.T) {
	o, err := parseFlags([]string{"-introspector", "rs1", "-introspector", "rs2"}, envMap(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.introspectors, []string{"rs1", "rs2"}) {
		t.Errorf("introspectors %v", o.introspectors)
	}
	env := envMap(map[string]string{"MCPAUTH_INTROSPECTOR": "rs3, rs4"})
	if o, err = parseFlags(nil, env, io.Discard); err != nil || !slices.Equal(o.introspectors, []string{"rs3", "rs4"}) {
		t.Errorf("from the environment: %v %v", o, err)
	}
	if o, err = parseFlags([]string{"-introspector", "rs5"}, env, io.Discard); err != nil || !slices.Equal(o.introspectors, []string{"rs5"}) {
		t.Errorf("flag over environment: %v %v", o, err)
	}
	if o, err = parseFlags(nil, envMap(nil), io.Discard); err != nil || len(o.introspectors) != 0 {
		t.Errorf("default: %v %v, want none", o, err)
	}
	for _, args := range [][]string{
		{"-introspector", ""},
		{"-static-client", "pub:http://127.0.0.1/cb", "-introspector", "pub"},
	} {
		_, err := parseFlags(args, envMap(nil), io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "-introspector") {
			t.Errorf("%v: got %v, want a usage error naming -introspector", args, err)
		}
	}
}

// TestIntrospectorWired: clients registered on a first run; on a second run
// over the same store with -introspector, the designated resource server
// and the token's own client see its tokens, another registered client gets
// {"active":false}.
func TestIntrospectorWired(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "state.db")
	const redirect = "http://127.0.0.1:9/cb"
	// One address for both runs: the issuer, and so the tokens' iss, stays.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := startRun(t, "-addr", addr, "-store", db, "-user", "ann:ann-password")
	ownerID, ownerSec := registerConfidential(t, s.issuer, redirect)
	rsID, rsSec := registerConfidential(t, s.issuer, redirect)
	strangerID, strangerSec := registerConfidential(t, s.issuer, redirect)
	at, rt := authorizeConfidential(t, s.issuer, ownerID, ownerSec, redirect, "ann", "ann-password")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	s = startRun(t, "-addr", addr, "-store", db, "-user", "ann:ann-password", "-introspector", rsID)
	for _, tc := range []struct {
		name, id, sec string
		want          bool
	}{
		{"owner", ownerID, ownerSec, true},
		{"designated resource server", rsID, rsSec, true},
		{"another client", strangerID, strangerSec, false},
	} {
		for kind, tok := range map[string]string{"access": at, "refresh": rt} {
			req, _ := http.NewRequest(http.MethodPost, s.issuer+"/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(tc.id), url.QueryEscape(tc.sec))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			active := strings.Contains(string(body), `"active":true`)
			if resp.StatusCode != http.StatusOK || active != tc.want {
				t.Errorf("%s, %s token: %d %s, want active %v", tc.name, kind, resp.StatusCode, body, tc.want)
			}
		}
	}
}

// registerConfidential registers a client_secret_basic client.
func registerConfidential(t *testing.T, iss, redirect string) (id, secret string) {
	t.Helper()
	resp, err := http.Post(iss+"/register", "application/json",
		strings.NewReader(`{"redirect_uris":["`+redirect+`"],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"client_secret_basic"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := decodeJSON(resp.Body, &c); err != nil || resp.StatusCode != http.StatusCreated || c.ClientSecret == "" {
		t.Fatalf("register: %d %v", resp.StatusCode, err)
	}
	return c.ClientID, c.ClientSecret
}

var consentForm = regexp.MustCompile(`(?s)<form method="post" action="/consent".*?</form>`)

// authorizeConfidential signs user in, approves the consent page and redeems
// the code with Basic credentials.
func authorizeConfidential(t *testing.T, iss, id, secret, redirect, user, password string) (at, rt string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirect) {
			return http.ErrUseLastResponse // the client's callback: read the code, do not follow
		}
		return nil
	}}
	_, page := authorizePage(t, c, iss, id, url.Values{"redirect_uri": {redirect}, "scope": {"tools:read offline_access"}})
	form := hiddenFields(page)
	form.Set("username", user)
	form.Set("password", password)
	resp := postForm(t, c, iss+"/login", form)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	consent := consentForm.Find(page)
	if consent == nil {
		t.Fatalf("no consent form: %d %.300s", resp.StatusCode, page)
	}
	form = hiddenFields(consent)
	form.Set("decision", "approve")
	resp = postForm(t, c, iss+"/consent", form)
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	tokReq, _ := http.NewRequest(http.MethodPost, iss+"/token", strings.NewReader(url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"code_verifier": {"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}, "resource": {iss + "/mcp"},
	}.Encode()))
	tokReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tokReq.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(tokReq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := decodeJSON(resp.Body, &tok); err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("token: %d %v %+v", resp.StatusCode, err, tok)
	}
	return tok.AccessToken, tok.RefreshToken
}

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
