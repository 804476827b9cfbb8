package sqlite

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// TestReencryptKeys: keys stored in plaintext (before an encryption key was
// configured) and keys under a previous encryption key are rewritten under
// the current one, and afterwards no database file holds the plaintext.
func TestReencryptKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	secret := []byte("d-member-0123456789abcdefghijklmnopqrstuv")
	jwk := func(n byte) []byte { return append(append([]byte(`{"kty":"EC","d":"`), append(secret, n)...), `"}`...) }
	now := time.Now()

	s, err := Open(t.Context(), path, WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(t.Context(), store.SigningKey{ID: "plain", Algorithm: "ES256", PrivateJWK: jwk('1'), CreatedAt: now, SignFrom: now}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	old, cur := encKey(t), encKey(t)
	s, err = Open(t.Context(), path, WithLogger(quiet), WithEncryptionKey(old))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(t.Context(), store.SigningKey{ID: "old", Algorithm: "ES256", PrivateJWK: jwk('2'), CreatedAt: now, SignFrom: now}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(t.Context(), path, WithLogger(quiet), WithEncryptionKey(cur), WithPreviousEncryptionKeys(old))
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.ReencryptKeys(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("ReencryptKeys: %d, %v; want 2", n, err)
	}
	if n, err := s.ReencryptKeys(t.Context()); err != nil || n != 0 {
		t.Errorf("second ReencryptKeys: %d, %v; want 0", n, err)
	}
	checkFiles := func(when string) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			if bytes.Contains(b, secret) {
				t.Errorf("%s: %s still holds a private key in plain text", when, e.Name())
			}
		}
	}
	checkFiles("open")
	s.Close()
	checkFiles("closed")
	// Only the current key is needed now.
	s = open(t, path, WithEncryptionKey(cur))
	keys, err := s.ListKeys(t.Context())
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListKeys under the current key alone: %d keys, %v", len(keys), err)
	}
	for _, k := range keys {
		if !bytes.Contains(k.PrivateJWK, secret) {
			t.Errorf("key %s decrypted to %s", k.ID, k.PrivateJWK)
		}
	}
	bare := open(t, path)
	if _, err := bare.ListKeys(t.Context()); !errors.Is(err, ErrEncryptionKey) {
		t.Errorf("read without a key: %v", err)
	}
}
