package mcpauth

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestCIMDTrustAndConsent (issues 10.3, 10.11): a client ID metadata
// document client's authorization errors are shown, not redirected, before
// sign-in; its consent page names the host that publishes the document and
// marks it unverified; a document whose name carries a bidi override is
// refused.
func TestCIMDTrustAndConsent(t *testing.T) {
	hash, err := HashPassword("pw-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	docs := func(w http.ResponseWriter, r *http.Request, self string) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/good.json":
			fmt.Fprint(w, cimdDoc(self))
		case "/bidi.json":
			fmt.Fprintf(w, `{"client_id":%q,"client_name":"Good \u202eppA","redirect_uris":[%q]}`, self, cimdRedirect)
		}
	}
	e := newCIMDEnv(t, docs, func(c *Config) {
		c.Authenticator = nil
		c.Users = []PasswordUser{{Username: "alice", PasswordHash: hash}}
	}, false)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, u string, form url.Values) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		base, _ := url.Parse(e.srv.URL)
		ref, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(method, base.ResolveReference(ref).String(), body)
		req.Header.Set("Accept", "text/html")
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {e.clientID("/good.json")}, "redirect_uri": {cimdRedirect},
		"state": {"st"}, "code_challenge": {cimdS256()}, "code_challenge_method": {"S256"}}

	bad := url.Values{}
	for k, v := range q {
		bad[k] = v
	}
	bad.Set("response_type", "token")
	resp, body := do("GET", e.srv.URL+pathAuthorize+"?"+bad.Encode(), nil)
	if resp.Header.Get("Location") != "" || resp.StatusCode != 400 || !strings.Contains(body, "unsupported_response_type") || !strings.Contains(body, "127.0.0.1:9999") {
		t.Errorf("bad request of a CIMD client: got (%d, Location %q, %.400s), want a 400 page naming 127.0.0.1:9999", resp.StatusCode, resp.Header.Get("Location"), body)
	}

	bidi := url.Values{}
	for k, v := range q {
		bidi[k] = v
	}
	bidi.Set("client_id", e.clientID("/bidi.json"))
	if resp, body = do("GET", e.srv.URL+pathAuthorize+"?"+bidi.Encode(), nil); resp.StatusCode != 400 || !strings.Contains(body, "client_name") {
		t.Errorf("document with a bidi override in client_name: got (%d, %.300s), want a 400 page about client_name", resp.StatusCode, body)
	}

	resp, _ = do("GET", e.srv.URL+pathAuthorize+"?"+q.Encode(), nil)
	resp, _ = do("GET", resp.Header.Get("Location"), nil) // consent → login
	resp, body = do("GET", resp.Header.Get("Location"), nil)
	if !strings.Contains(body, "Doc Client") || !strings.Contains(body, "unverified application") {
		t.Errorf("login page: %.600s", body)
	}
	fields := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`).FindAllStringSubmatch(body, -1) {
		fields.Set(m[1], m[2])
	}
	fields.Set("username", "alice")
	fields.Set("password", "pw-0123456789")
	resp, _ = do("POST", e.srv.URL+pathLogin, fields)
	resp, body = do("GET", resp.Header.Get("Location"), nil)
	docHost := strings.TrimPrefix(e.docs.URL, "https://")
	for _, want := range []string{"Unverified application", `id="client-id-host">Published by <strong class="host">` + docHost + `</strong>`,
		`<strong class="host">127.0.0.1:9999</strong>`} {
		if !strings.Contains(body, want) {
			t.Errorf("consent page lacks %q: %.2000s", want, body)
		}
	}
}
