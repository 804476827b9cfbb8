package keycrypt

import (
	"bytes"
	"errors"
	"testing"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestSealOpen(t *testing.T) {
	plain := []byte(`{"kty":"EC","d":"secret"}`)
	cur, err := New(key(1))
	if err != nil {
		t.Fatal(err)
	}
	stored, id, err := cur.Seal("kid-1", plain)
	if err != nil || id != KeyID(key(1)) || bytes.Contains(stored, []byte("secret")) {
		t.Fatalf("Seal = %q, %q, %v", stored, id, err)
	}
	rotated, err := New(key(2), key(1))
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(key(2))
	if err != nil {
		t.Fatal(err)
	}
	var plaintext *Sealer // no key configured
	tampered := bytes.Clone(stored)
	tampered[len(tampered)-1] ^= 1

	tests := []struct {
		name    string
		s       *Sealer
		kid     string
		stored  []byte
		keyID   string
		wantErr bool
	}{
		{"SameKey", cur, "kid-1", stored, id, false},
		{"PreviousKey", rotated, "kid-1", stored, id, false},
		{"OtherKey", other, "kid-1", stored, id, true},
		{"NoKey", plaintext, "kid-1", stored, id, true},
		{"OtherRow", cur, "kid-2", stored, id, true}, // AAD binds the ciphertext to its kid
		{"Tampered", cur, "kid-1", tampered, id, true},
		{"Truncated", cur, "kid-1", stored[:5], id, true},
		{"PlaintextRow", cur, "kid-1", plain, "", false},
		{"PlaintextRowNoKey", plaintext, "kid-1", plain, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.Open(tt.kid, tt.stored, tt.keyID)
			if tt.wantErr {
				if !errors.Is(err, ErrKey) {
					t.Fatalf("Open = %q, %v; want ErrKey", got, err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("Open = %q, %v; want %q", got, err, plain)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name     string
		primary  []byte
		previous [][]byte
	}{
		{"Short", make([]byte, 16), nil},
		{"ShortPrevious", key(1), [][]byte{make([]byte, 31)}},
		{"PreviousWithoutCurrent", nil, [][]byte{key(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.primary, tt.previous...); err == nil {
				t.Error("New succeeded")
			}
		})
	}
	if s, err := New(nil); s != nil || err != nil {
		t.Errorf("New(nil) = %v, %v; want a nil (plaintext) Sealer", s, err)
	}
}
