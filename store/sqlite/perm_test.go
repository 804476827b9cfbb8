package sqlite

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// TestFilesCreatedPrivate: the database and the -wal and -shm files SQLite
// makes beside it are readable by the owner only (they hold signing keys
// and grants), whatever the umask lets through; an existing file keeps its
// mode.
func TestFilesCreatedPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	s := open(t, path)
	now := time.Now()
	// A write makes the WAL and the shared-memory index exist.
	if err := s.AddKey(t.Context(), store.SigningKey{ID: "k", Algorithm: "ES256", PrivateJWK: []byte(`{}`), CreatedAt: now, SignFrom: now}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"state.db", "state.db-wal", "state.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %v, want -rw-------", name, m)
		}
	}

	shared := filepath.Join(dir, "shared.db")
	if err := os.WriteFile(shared, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(shared, 0o640)
	open(t, shared)
	if fi, _ := os.Stat(shared); fi.Mode().Perm() != 0o640 {
		t.Errorf("an existing database's mode changed to %v", fi.Mode().Perm())
	}
}
