package secret

import (
	"bytes"
	"strings"
	"testing"
)

func TestNewAndDigest(t *testing.T) {
	a, b := New("rt_"), New("rt_")
	if a == b || !strings.HasPrefix(a, "rt_") || len(a) != 3+43 {
		t.Fatalf("New: %q %q", a, b)
	}
	if Digest(a) == Digest(b) || Digest(a) != Digest(a) || strings.Contains(Digest(a), a) {
		t.Fatal("Digest must be deterministic, distinct and not reveal the secret")
	}
	if !Equal(Sum("x"), Sum("x")) || Equal(Sum("x"), Sum("y")) || Equal(Sum("x"), nil) {
		t.Fatal("Equal")
	}
}

func TestSealOpen(t *testing.T) {
	msg := []byte("grantex refresh token ref_01H")
	sealed := Seal("token-A", "refresh", msg)
	if bytes.Contains(sealed, msg) {
		t.Fatal("sealed data contains the plaintext")
	}
	got, err := Open("token-A", "refresh", sealed)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Open: %q, %v", got, err)
	}
	for name, tc := range map[string]struct {
		token, purpose string
		data           []byte
	}{
		"other token":   {"token-B", "refresh", sealed},
		"other purpose": {"token-A", "code", sealed},
		"tampered":      {"token-A", "refresh", append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1)},
		"truncated":     {"token-A", "refresh", sealed[:5]},
		"empty":         {"token-A", "refresh", nil},
	} {
		if _, err := Open(tc.token, tc.purpose, tc.data); err != ErrOpen {
			t.Errorf("%s: got %v, want ErrOpen", name, err)
		}
	}
}
