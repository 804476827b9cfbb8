package github_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/authn/github"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/store"
)

const (
	clientRedirect = "http://127.0.0.1:1/callback"
	ghClientID     = "gh-client"
	ghSecret       = "gh-secret"
)

// fakeGitHub doubles GitHub's OAuth and REST endpoints (as GitHub
// Enterprise Server lays them out: /login/oauth/…, /api/v3/…).
type fakeGitHub struct {
	*httptest.Server
	emails  string // JSON of GET /user/emails
	orgs    map[string]string
	mu      sync.Mutex
	pending map[string]string // code → code_challenge
	tokens  map[string]bool
}

func startGitHub(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{pending: map[string]string{}, tokens: map[string]bool{}, orgs: map[string]string{"acme": "active", "pending-org": "pending"},
		emails: `[{"email":"old@example.com","primary":false,"verified":true},{"email":"octo@example.com","primary":true,"verified":true}]`}
	mux := http.NewServeMux()
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != ghClientID || q.Get("code_challenge_method") != "S256" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		code := "code-" + q.Get("state")[:8]
		f.mu.Lock()
		f.pending[code] = q.Get("code_challenge")
		f.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		f.mu.Lock()
		challenge, known := f.pending[r.PostForm.Get("code")]
		delete(f.pending, r.PostForm.Get("code"))
		f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		w.Header().Set("Content-Type", "application/json")
		if id != ghClientID || secret != ghSecret || !known || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			// GitHub answers 200 with an error body.
			io.WriteString(w, `{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}`)
			return
		}
		tok := "gho_" + r.PostForm.Get("code")
		f.mu.Lock()
		f.tokens[tok] = true
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]string{"access_token": tok, "token_type": "bearer", "scope": "read:user,user:email,read:org"})
	})
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			ok := f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
			f.mu.Unlock()
			if !ok {
				http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/v3/user", auth(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":583231,"login":"octocat","name":"The Octocat"}`)
	}))
	mux.HandleFunc("GET /api/v3/user/emails", auth(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, f.emails) }))
	mux.HandleFunc("GET /api/v3/user/memberships/orgs/{org}", auth(func(w http.ResponseWriter, r *http.Request) {
		state, ok := f.orgs[r.PathValue("org")]
		if !ok {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"state": state, "role": "member"})
	}))
	return f
}

type env struct {
	srv  *httptest.Server
	auth *github.Authenticator
}

func newEnv(t *testing.T, gh *fakeGitHub, mutate func(*github.Config)) *env {
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	key := make([]byte, 32)
	rand.Read(key)
	cfg := github.Config{ClientID: ghClientID, ClientSecret: ghSecret, RedirectURL: base + "/github/callback", BaseURL: gh.URL, CookieKey: key}
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := github.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	as, err := mcpauth.NewServer(mcpauth.Config{
		Issuer: base, Scopes: []string{"tools:read", "tools:execute"},
		SignInProviders: []mcpauth.SignInProvider{{Name: "GitHub", Authenticator: a}},
		StaticClients:   []store.Client{{ID: "app", ClientMetadata: store.ClientMetadata{RedirectURIs: []string{clientRedirect}, TokenEndpointAuthMethod: "none"}}},
		RateLimits:      &limits.RateLimits{Disabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	mux := http.NewServeMux()
	mux.Handle("/", as)
	mux.Handle(a.CallbackPath(), a)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{srv: srv, auth: a}
}

var (
	reContinue = regexp.MustCompile(`<a class="button" href="([^"]+)">Continue with GitHub</a>`)
	reHidden   = regexp.MustCompile(`name="(req|csrf)" value="([^"]*)"`)
)

// signIn runs the browser from the authorization URL through GitHub back
// to us; it returns the last page and the client's code if consent was
// reached and approved.
func (e *env) signIn(t *testing.T, verifierChallenge string, stopAtCallback bool) (status int, body, lastURL string, c *http.Client) {
	jar, _ := cookiejar.New(nil)
	var stopped string
	c = &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), clientRedirect) || (stopAtCallback && r.URL.Path == "/github/callback") {
			stopped = r.URL.String()
			return http.ErrUseLastResponse
		}
		return nil
	}}
	get := func(u string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Request.URL.String()
	}
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {clientRedirect}, "state": {"s"},
		"code_challenge": {verifierChallenge}, "code_challenge_method": {"S256"}}
	_, login, _ := get(e.srv.URL + "/authorize?" + q.Encode())
	m := reContinue.FindStringSubmatch(login)
	if m == nil {
		t.Fatalf("no Continue with GitHub:\n%s", login)
	}
	status, body, lastURL = get(e.srv.URL + strings.ReplaceAll(m[1], "&amp;", "&"))
	if stopAtCallback {
		return status, stopped, lastURL, c
	}
	return status, body, lastURL, c
}

func challenge() (string, string) {
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(v))
	return v, base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestGitHubJourney: sign in with the GitHub double, consent, token: the
// subject is the GitHub base URL and the numeric user id.
func TestGitHubJourney(t *testing.T) {
	gh := startGitHub(t)
	e := newEnv(t, gh, func(c *github.Config) { c.Org = "acme" })
	verifier, ch := challenge()
	status, body, last, c := e.signIn(t, ch, false)
	if status != http.StatusOK || !strings.Contains(last, "/consent") || !strings.Contains(body, "The Octocat (octocat)") {
		t.Fatalf("want our consent page, got %d at %s:\n%s", status, last, body)
	}
	form := url.Values{"decision": {"approve"}}
	for _, m := range reHidden.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], strings.ReplaceAll(m[2], "&#43;", "+"))
	}
	resp, err := c.PostForm(e.srv.URL+"/consent", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	resp, err = http.PostForm(e.srv.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {clientRedirect}, "client_id": {"app"}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	parts := strings.Split(tok.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatalf("token: %d %+v", resp.StatusCode, tok)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct{ Sub string }
	json.Unmarshal(raw, &claims)
	if want := gh.URL + "#583231"; claims.Sub != want {
		t.Errorf("sub = %q, want %q", claims.Sub, want)
	}
}

// TestGitHubRefusals: organization membership, the scope mapping, a
// replayed or forged callback and a GitHub that is down end on our pages.
func TestGitHubRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*github.Config)
		want   int
		code   string
	}{
		{"not a member", func(c *github.Config) { c.Org = "other-org" }, http.StatusForbidden, "access_denied"},
		{"membership pending", func(c *github.Config) { c.Org = "pending-org" }, http.StatusForbidden, "access_denied"},
		{"no scope", func(c *github.Config) {
			c.ScopesFor = func(cl github.Claims) []string {
				if cl.Login == "octocat" && cl.Email == "octocat-admin@example.com" {
					return []string{"tools:execute"}
				}
				return nil
			}
		}, http.StatusForbidden, "access_denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, startGitHub(t), tc.mutate)
			_, ch := challenge()
			status, body, _, _ := e.signIn(t, ch, false)
			if status != tc.want || !strings.Contains(body, "<code>"+tc.code+"</code>") {
				t.Fatalf("got %d:\n%s", status, body)
			}
		})
	}

	t.Run("scopes and e-mail", func(t *testing.T) {
		var seen github.Claims
		e := newEnv(t, startGitHub(t), func(c *github.Config) {
			c.Org = "acme"
			c.ScopesFor = func(cl github.Claims) []string { seen = cl; return []string{"tools:read"} }
		})
		_, ch := challenge()
		status, body, _, _ := e.signIn(t, ch, false)
		if status != http.StatusOK || strings.Contains(body, "tools:execute") {
			t.Fatalf("got %d:\n%s", status, body)
		}
		if seen != (github.Claims{ID: 583231, Login: "octocat", Name: "The Octocat", Email: "octo@example.com", Org: "acme"}) {
			t.Errorf("claims = %+v", seen)
		}
	})

	t.Run("replay and forged state", func(t *testing.T) {
		e := newEnv(t, startGitHub(t), nil)
		_, ch := challenge()
		_, cb, _, c := e.signIn(t, ch, true)
		get := func(u string) (int, string) {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		cbu, _ := url.Parse(cb)
		forged := cbu.Query()
		forged.Set("state", "forged")
		if status, body := get(e.srv.URL + "/github/callback?" + forged.Encode()); status != http.StatusBadRequest || !strings.Contains(body, "invalid_state") {
			t.Errorf("forged state: %d %s", status, body)
		}
		if status, _ := get(cb); status != http.StatusOK {
			t.Fatalf("genuine callback: %d", status)
		}
		if status, body := get(cb); status != http.StatusBadRequest || !strings.Contains(body, "invalid_state") {
			t.Errorf("replay: %d %s", status, body)
		}
	})

	t.Run("GitHub down", func(t *testing.T) {
		gh := startGitHub(t)
		e := newEnv(t, gh, nil)
		_, ch := challenge()
		_, cb, _, c := e.signIn(t, ch, true)
		gh.Close()
		resp, err := c.Get(cb)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), "temporarily_unavailable") {
			t.Errorf("got %d %s", resp.StatusCode, b)
		}
	})
}

func TestGitHubNew(t *testing.T) {
	good := github.Config{ClientID: "c", RedirectURL: "https://as.example/github/callback", CookieKey: make([]byte, 32)}
	a, err := github.New(good)
	if err != nil || a.Subject(1) != "https://github.com#1" {
		t.Fatalf("New: %v", err)
	}
	for name, mutate := range map[string]func(*github.Config){
		"no client id": func(c *github.Config) { c.ClientID = "" },
		"bad org":      func(c *github.Config) { c.Org = "a/b" },
		"short key":    func(c *github.Config) { c.CookieKey = nil },
		"bad base":     func(c *github.Config) { c.BaseURL = "github.example" },
	} {
		c := good
		mutate(&c)
		if _, err := github.New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
