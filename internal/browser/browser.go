// Package browser is the machinery of the built-in sign-in pages: the
// signed session cookie, CSRF tokens bound to a request and a user, and
// argon2id password hashes (RFC 9106). Keys come from the caller (the
// session keys of the key store, newest first); nothing here does I/O.
package browser

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// session is the session cookie's payload.
type session struct {
	Subject string `json:"sub"`
	Name    string `json:"name"`
	Expires int64  `json:"exp"`
}

// SealSession returns a session cookie value for the user, valid until
// exp, MACed (HMAC-SHA256) with key.
func SealSession(key []byte, subject, name string, exp time.Time) string {
	body, _ := json.Marshal(session{Subject: subject, Name: name, Expires: exp.Unix()})
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac(key, "session", payload))
}

// OpenSession verifies a session cookie value against any of keys and
// returns its user; ok is false for a forged, malformed or expired cookie.
func OpenSession(keys [][]byte, value string, now time.Time) (subject, name string, ok bool) {
	payload, sig, found := strings.Cut(value, ".")
	if !found {
		return "", "", false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return "", "", false
	}
	for _, k := range keys {
		if hmac.Equal(got, mac(k, "session", payload)) {
			var sess session
			body, err := base64.RawURLEncoding.DecodeString(payload)
			if err != nil || json.Unmarshal(body, &sess) != nil || now.Unix() >= sess.Expires || sess.Subject == "" {
				return "", "", false
			}
			return sess.Subject, sess.Name, true
		}
	}
	return "", "", false
}

// CSRFToken binds a form to its purpose, its pending request and (for
// consent) the signed-in user, so a cross-site page can neither forge nor
// replay it.
func CSRFToken(key []byte, purpose, pendingID, subject string) string {
	return base64.RawURLEncoding.EncodeToString(mac(key, "csrf", purpose, pendingID, subject))
}

// CheckCSRF reports whether token is CSRFToken's answer under any of keys.
func CheckCSRF(keys [][]byte, token, purpose, pendingID, subject string) bool {
	got, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(got) == 0 {
		return false
	}
	for _, k := range keys {
		if hmac.Equal(got, mac(k, "csrf", purpose, pendingID, subject)) {
			return true
		}
	}
	return false
}

// mac is HMAC-SHA256 of the parts, each NUL-terminated so that no two
// lists of parts share an input.
func mac(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}
