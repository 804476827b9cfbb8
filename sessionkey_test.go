package mcpauth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/store"
)

// sessionMAC is the login cookie's HMAC as the server computes it.
func sessionMAC(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("session\x00" + payload + "\x00"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// forgedSession is a login cookie for sub signed with key.
func forgedSession(key []byte, sub string, exp time.Time) *http.Cookie {
	body, _ := json.Marshal(map[string]any{"sub": sub, "name": sub, "exp": exp.Unix()})
	payload := base64.RawURLEncoding.EncodeToString(body)
	return &http.Cookie{Name: "mcpauth_session", Value: payload + "." + sessionMAC(key, payload)}
}

// consentWith starts an authorization request and opens its consent step
// with cookie: 200 is the consent page (signed in), 302 the way to /login.
func consentWith(t *testing.T, e *env, cookie *http.Cookie) *http.Response {
	t.Helper()
	resp := e.get("/authorize?" + authzQuery("pub", pubRedirect, newVerifier()).Encode())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d %.300s", resp.StatusCode, peek(resp))
	}
	r := e.req(http.MethodGet, location(t, resp).RequestURI(), nil)
	r.Header.Set("Accept", "text/html")
	r.AddCookie(cookie)
	return e.serve(r)
}

// TestSessionKeyNotDerivedFromSigningKey: whoever holds a signing key (a
// stolen database) cannot forge a login session. The session key is its
// own random secret in the key store; a cookie MACed with the key the old
// code derived from the private JWK is refused, while the same cookie under
// the real session key passes (so the forgery itself is sound).
func TestSessionKeyNotDerivedFromSigningKey(t *testing.T) {
	e := newEnv(t, withUsers(t))
	stored, err := e.keys.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var derived [][]byte
	var session []byte
	for _, k := range stored {
		if k.Algorithm == "mcpauth-session" {
			var jwk struct{ Kty, K string }
			if err := json.Unmarshal(k.PrivateJWK, &jwk); err != nil || jwk.Kty != "oct" {
				t.Fatalf("session key entry %s: %s", k.ID, k.PrivateJWK)
			}
			session, _ = base64.RawURLEncoding.DecodeString(jwk.K)
			continue
		}
		m := hmac.New(sha256.New, []byte("mcpauth session key v1"))
		m.Write(k.PrivateJWK)
		derived = append(derived, m.Sum(nil))
	}
	if len(derived) == 0 {
		t.Fatal("no signing key in the store")
	}
	exp := testEpoch.Add(time.Hour)
	for i, d := range derived {
		if hmac.Equal(d, session) {
			t.Fatal("the session key equals the one derived from the signing key")
		}
		resp := consentWith(t, e, forgedSession(d, "mallory", exp))
		if resp.StatusCode == http.StatusOK || strings.Contains(peek(resp), "mallory") {
			t.Errorf("signing key %d: a session forged from it was accepted (%d)", i, resp.StatusCode)
		}
		if loc := resp.Header.Get("Location"); !strings.Contains(loc, "/login") {
			t.Errorf("forged session: Location %q, want the login page", loc)
		}
	}
	if len(session) != 32 {
		t.Fatalf("no 256-bit session key in the key store (entries: %d)", len(stored))
	}
	if resp := consentWith(t, e, forgedSession(session, "mallory", exp)); resp.StatusCode != http.StatusOK {
		t.Fatalf("control: a cookie under the real session key was refused (%d): the forgery is wrong", resp.StatusCode)
	}
}

// TestSessionKeyRotation: rotating keys rotates the session key too; a
// cookie signed before the rotation is still accepted during the overlap,
// new cookies are signed with the new key, and every replica sharing the
// key store accepts both.
func TestSessionKeyRotation(t *testing.T) {
	e := newEnv(t, withUsers(t))
	b := e.browser()
	loginFlow(t, e, b, authzQuery("pub", pubRedirect, newVerifier()))
	old := b.jar.Cookies(mustURL(e.issuer))
	if len(old) != 1 {
		t.Fatalf("cookies %v", old)
	}

	keysBefore := sessionEntries(t, e.keys)
	if err := e.srv.RotateSigningKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute) // past KeyRefreshInterval: the new key signs
	keysAfter := sessionEntries(t, e.keys)
	if len(keysAfter) != len(keysBefore)+1 {
		t.Fatalf("session keys before %v after %v: want one more", keysBefore, keysAfter)
	}
	if resp := consentWith(t, e, old[0]); resp.StatusCode != http.StatusOK {
		t.Fatalf("a cookie from before the rotation is refused during the overlap: %d", resp.StatusCode)
	}

	// A replica on the same key store accepts the old cookie and agrees on
	// the new signing key: its cookie passes here.
	replica, err := mcpauth.NewServer(mcpauth.Config{
		Issuer: testIssuer, Scopes: []string{"read"}, Users: []mcpauth.PasswordUser{{Username: "alice", PasswordHash: passwordHash(t)}},
		StaticClients: staticClients(), Resources: []string{resourceA}, RateLimits: &limits.RateLimits{Disabled: true},
		Keys: e.keys, Now: e.clock.Now, Logger: discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	e2 := &env{t: t, srv: replica, issuer: testIssuer, keys: e.keys, clock: e.clock, logs: e.logs}
	if resp := consentWith(t, e2, old[0]); resp.StatusCode != http.StatusOK {
		t.Fatalf("the replica refuses the pre-rotation cookie: %d", resp.StatusCode)
	}
	b2 := e.browser()
	loginFlow(t, e, b2, authzQuery("pub", pubRedirect, newVerifier()))
	fresh := b2.jar.Cookies(mustURL(e.issuer))
	if fresh[0].Value == old[0].Value {
		t.Fatal("no new cookie")
	}
	if resp := consentWith(t, e2, fresh[0]); resp.StatusCode != http.StatusOK {
		t.Fatalf("the replica refuses a cookie signed with the new session key: %d", resp.StatusCode)
	}

	// Past the overlap (the old key's last cookie expired) it is removed.
	e.clock.Advance(13 * time.Hour)
	e.srv.RotateSigningKey(context.Background()) // any reload prunes expired entries
	e.clock.Advance(2 * time.Minute)
	if resp := consentWith(t, e, fresh[0]); resp.StatusCode == http.StatusOK {
		t.Fatal("a 13-hour-old session cookie is still accepted")
	}
	if got := sessionEntries(t, e.keys); len(got) > 2 {
		t.Errorf("expired session keys stay in the store: %v", got)
	}
}

func sessionEntries(t *testing.T, ks store.KeyStore) []string {
	t.Helper()
	stored, err := ks.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range stored {
		if k.Algorithm == "mcpauth-session" {
			ids = append(ids, k.ID)
		}
	}
	return ids
}
