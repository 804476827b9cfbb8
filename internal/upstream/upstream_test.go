package upstream

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newFlow(t *testing.T, key string, c *clock, redirect string) *Flow {
	t.Helper()
	f, err := New(Config{Kind: "oidc", ID: "idp", RedirectURL: redirect, Key: []byte(key), Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const key1 = "0123456789abcdef0123456789abcdef"

// callback is the browser coming back with the cookies set on w.
func callback(w *httptest.ResponseRecorder, query string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/oidc/callback?"+query, nil)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	return r
}

// TestFlowAcrossReplicas: a sign-in begun on one instance finishes on
// another with the same key (nothing is kept in memory), once.
func TestFlowAcrossReplicas(t *testing.T) {
	c := &clock{time.Unix(1_900_000_000, 0)}
	a, b := newFlow(t, key1, c, "http://127.0.0.1/oidc/callback"), newFlow(t, key1, c, "http://127.0.0.1/oidc/callback")
	w := httptest.NewRecorder()
	p, err := a.Begin(w, "http://127.0.0.1/consent?req=R")
	if err != nil {
		t.Fatal(err)
	}
	out := httptest.NewRecorder()
	got, code, err := b.Finish(out, callback(w, "state="+p.State+"&code=C"))
	if err != nil || code != "C" || got.Nonce != p.Nonce || got.Verifier != p.Verifier || got.ReturnTo != p.ReturnTo {
		t.Fatalf("Finish = %+v %q %v", got, code, err)
	}
	if del := out.Result().Cookies(); len(del) != 1 || del[0].MaxAge >= 0 {
		t.Errorf("state cookie not deleted: %+v", del)
	}

	// The session set by b is read by a.
	sw := httptest.NewRecorder()
	u := mcpauth.User{Subject: "iss#sub", Name: "Ann", AllowedScopes: []string{}}
	if err := b.SetSession(sw, u); err != nil {
		t.Fatal(err)
	}
	got2, ok := a.User(callback(sw, ""))
	if !ok || got2.Subject != u.Subject || got2.Name != "Ann" || got2.AllowedScopes == nil {
		t.Errorf("User = %+v %v (an empty allow-list must stay empty, not unlimited)", got2, ok)
	}
}

// TestFlowRefuses: tampering, another key, expiry, another kind of cookie.
func TestFlowRefuses(t *testing.T) {
	c := &clock{time.Unix(1_900_000_000, 0)}
	f := newFlow(t, key1, c, "http://127.0.0.1/cb")
	other := newFlow(t, strings.Repeat("k", 32), c, "http://127.0.0.1/cb")

	w := httptest.NewRecorder()
	p, _ := f.Begin(w, "http://127.0.0.1/consent?req=R")
	good := w.Result().Cookies()[0]
	for name, tc := range map[string]struct {
		flow   *Flow
		query  string
		cookie func(*http.Cookie)
		after  time.Duration
	}{
		"tampered":   {f, "state=" + p.State + "&code=C", func(c *http.Cookie) { c.Value = c.Value[:20] + flip(c.Value[20]) + c.Value[21:] }, 0},
		"other key":  {other, "state=" + p.State + "&code=C", nil, 0},
		"expired":    {f, "state=" + p.State + "&code=C", nil, DefaultFlowTTL + time.Second},
		"no state":   {f, "code=C", nil, 0},
		"two states": {f, "state=" + p.State + "&state=" + p.State + "&code=C", nil, 0},
	} {
		ck := *good
		if tc.cookie != nil {
			tc.cookie(&ck)
		}
		c.t = time.Unix(1_900_000_000, 0).Add(tc.after)
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/cb?"+tc.query, nil)
		r.AddCookie(&ck)
		if _, _, err := tc.flow.Finish(httptest.NewRecorder(), r); !errors.Is(err, ErrBadState) {
			t.Errorf("%s: err = %v, want ErrBadState", name, err)
		}
	}
	c.t = time.Unix(1_900_000_000, 0)

	// A state cookie is not a session cookie, even renamed.
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	r.AddCookie(&http.Cookie{Name: f.prefix, Value: good.Value})
	if u, ok := f.User(r); ok {
		t.Errorf("state cookie accepted as a session: %+v", u)
	}
	// Sessions expire.
	sw := httptest.NewRecorder()
	_ = f.SetSession(sw, mcpauth.User{Subject: "s"})
	c.t = c.t.Add(DefaultSessionTTL)
	if _, ok := f.User(callback(sw, "")); ok {
		t.Error("expired session accepted")
	}
	// The upstream's error comes back as ours.
	c.t = time.Unix(1_900_000_000, 0)
	if _, _, err := f.Finish(httptest.NewRecorder(), callback(w, "state="+p.State+"&error=access_denied")); !errors.Is(err, ErrDenied) {
		t.Errorf("access_denied: %v", err)
	}
}

func TestFlowCookies(t *testing.T) {
	c := &clock{time.Unix(1_900_000_000, 0)}
	f := newFlow(t, key1, c, "https://as.example/oidc/callback")
	w := httptest.NewRecorder()
	f.Begin(w, "https://as.example/auth/consent?req=R")
	ck := w.Result().Cookies()[0]
	if !strings.HasPrefix(ck.Name, "__Host-") || !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("state cookie %+v", ck)
	}
	if got := assetsURL("https://as.example/auth/consent?req=R"); got != "/auth/assets/style.css" {
		t.Errorf("assetsURL = %q", got)
	}
	for _, bad := range []Config{
		{Kind: "oidc", RedirectURL: "https://as.example/cb", Key: []byte("short")},
		{Kind: "oidc", RedirectURL: "http://as.example/cb", Key: []byte(key1)},
		{Kind: "oidc", RedirectURL: "/cb", Key: []byte(key1)},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) accepted", bad)
		}
	}
	if _, err := f.Begin(httptest.NewRecorder(), "https://as.example/"+strings.Repeat("x", 3000)); err == nil {
		t.Error("a huge return URL was sealed")
	}
}

func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}
