package browser

import (
	"strings"
	"testing"
	"time"
)

func TestSession(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	k1, k2 := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	v := SealSession(k1, "alice", "Alice", now.Add(time.Hour))
	payload, sig, _ := strings.Cut(v, ".")
	tests := []struct {
		name  string
		keys  [][]byte
		value string
		at    time.Time
		ok    bool
	}{
		{"valid", [][]byte{k1}, v, now, true},
		{"valid under a later key list", [][]byte{k2, k1}, v, now, true},
		{"unknown key", [][]byte{k2}, v, now, false},
		{"expired", [][]byte{k1}, v, now.Add(time.Hour), false},
		{"tampered payload", [][]byte{k1}, SealSession(k1, "bob", "", now.Add(time.Hour))[:len(payload)] + "." + sig, now, false},
		{"no signature", [][]byte{k1}, payload, now, false},
		{"bad base64", [][]byte{k1}, payload + ".!!", now, false},
		{"empty subject", [][]byte{k1}, SealSession(k1, "", "x", now.Add(time.Hour)), now, false},
	}
	for _, tt := range tests {
		sub, name, ok := OpenSession(tt.keys, tt.value, tt.at)
		if ok != tt.ok || ok && (sub != "alice" || name != "Alice") {
			t.Errorf("%s: (%q, %q, %v), want ok %v", tt.name, sub, name, ok, tt.ok)
		}
	}
}

func TestCSRF(t *testing.T) {
	k1, k2 := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	tok := CSRFToken(k1, "consent", "req1", "alice")
	for _, tt := range []struct {
		name                      string
		keys                      [][]byte
		token, purpose, req, user string
		ok                        bool
	}{
		{"valid", [][]byte{k2, k1}, tok, "consent", "req1", "alice", true},
		{"other purpose", [][]byte{k1}, tok, "login", "req1", "alice", false},
		{"other request", [][]byte{k1}, tok, "consent", "req2", "alice", false},
		{"other user", [][]byte{k1}, tok, "consent", "req1", "bob", false},
		{"parts shifted", [][]byte{k1}, tok, "consent", "req1a", "lice", false},
		{"unknown key", [][]byte{k2}, tok, "consent", "req1", "alice", false},
		{"empty", [][]byte{k1}, "", "consent", "req1", "alice", false},
	} {
		if got := CheckCSRF(tt.keys, tt.token, tt.purpose, tt.req, tt.user); got != tt.ok {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.ok)
		}
	}
}

func TestHash(t *testing.T) {
	phc, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHash(phc)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Check("correct horse") || h.Check("wrong horse") {
		t.Error("Check does not tell the password")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$a2V5", strings.Replace(phc, "m=19456", "m=4000000", 1), strings.Replace(phc, "t=2", "t=99", 1)} {
		if _, err := ParseHash(bad); err == nil {
			t.Errorf("ParseHash(%q) accepted", bad)
		}
	}
	if d := DummyFor(phc); d.Memory != h.Memory || d.Time != h.Time || len(d.Key) != len(h.Key) {
		t.Errorf("DummyFor = %+v, want the parameters of %s", d, phc)
	}
	if DummyFor("garbage") != DummyHash || DummyFor("") != DummyHash {
		t.Error("DummyFor of no usable hash is not DummyHash")
	}
}
