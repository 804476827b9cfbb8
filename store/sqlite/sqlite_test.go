package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store/storetest"
)

// open opens a store on a fresh file (or memory) and closes it with the test.
func open(tb testing.TB, path string, opts ...Option) *Store {
	tb.Helper()
	s, err := Open(tb.Context(), path, append([]Option{WithLogger(quiet)}, opts...)...)
	if err != nil {
		tb.Fatalf("Open(%q): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// quiet drops the migration logs.
var quiet = slog.New(slog.DiscardHandler)

func tempPath(tb testing.TB) string { return filepath.Join(tb.TempDir(), "mcpauth.db") }

func stores(s *Store) storetest.Stores {
	return storetest.Stores{Clients: s, Grants: s, Keys: s, Now: s.now}
}

// clocked opens a store on a clock the suite can advance.
func clocked(tb testing.TB, path string) storetest.Stores {
	clock := new(storetest.Clock)
	st := stores(open(tb, path, WithClock(clock.Now)))
	st.Advance = clock.Advance
	return st
}

func TestConformance(t *testing.T) {
	t.Run("File", func(t *testing.T) {
		t.Parallel()
		storetest.Run(t, func(tb testing.TB) storetest.Stores { return clocked(tb, tempPath(tb)) })
	})
	t.Run("Memory", func(t *testing.T) {
		t.Parallel()
		storetest.Run(t, func(tb testing.TB) storetest.Stores { return clocked(tb, ":memory:") })
	})
}

func encKey(tb testing.TB) []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// TestReopen checks that state survives closing and reopening the file.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path, key := tempPath(t), encKey(t)
	now := time.Now().Truncate(time.Millisecond)

	s, err := Open(ctx, path, WithEncryptionKey(key))
	if err != nil {
		t.Fatal(err)
	}
	client := &mcpauth.Client{ID: "c1", SecretDigest: []byte{0, 1, 2}, IssuedAt: now,
		RedirectURIs: []string{"https://app.example/cb"}, TokenEndpointAuthMethod: "client_secret_basic", Name: "App"}
	grant := &mcpauth.GrantRecord{ID: "g1", ClientID: "c1", Subject: "alice", Scopes: []string{"read"},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	refresh := &mcpauth.RefreshRecord{GrantID: "g1", ClientID: "c1", Subject: "alice", Scopes: []string{"read"},
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	sk := mcpauth.SigningKey{ID: "k1", Algorithm: "ES256", PrivateJWK: []byte(`{"kty":"EC","d":"secret-d"}`),
		CreatedAt: now, SignFrom: now}
	for _, err := range []error{
		s.SetClient(ctx, client),
		s.CreateGrant(ctx, grant),
		s.SaveRefresh(ctx, "r1", refresh),
		s.AddKey(ctx, sk),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, WithEncryptionKey(key))
	if c, err := s.GetClient(ctx, "c1"); err != nil || c.Name != "App" || !bytes.Equal(c.SecretDigest, client.SecretDigest) {
		t.Errorf("GetClient after reopen = %+v, %v", c, err)
	}
	if g, err := s.GetGrant(ctx, "g1"); err != nil || g.Subject != "alice" {
		t.Errorf("GetGrant after reopen = %+v, %v", g, err)
	}
	if r, err := s.GetRefresh(ctx, "r1"); err != nil || r.GrantID != "g1" {
		t.Errorf("GetRefresh after reopen = %+v, %v", r, err)
	}
	keys, err := s.ListKeys(ctx)
	if err != nil || len(keys) != 1 || !bytes.Equal(keys[0].PrivateJWK, sk.PrivateJWK) {
		t.Errorf("ListKeys after reopen = %+v, %v", keys, err)
	}
	var versions int
	files, _ := fs.Glob(migrationFS, "migrations/*.sql")
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil || versions != len(files) {
		t.Errorf("schema_migrations rows = %d, %v; want %d", versions, err, len(files))
	}
}

// TestEncryption checks that private keys are encrypted at rest and that a
// wrong or missing key is a clear error.
func TestEncryption(t *testing.T) {
	ctx := t.Context()
	path, key, other := tempPath(t), encKey(t), encKey(t)
	secret := []byte(`{"kty":"OKP","d":"very-secret-private-part"}`)
	sk := mcpauth.SigningKey{ID: "k1", Algorithm: "EdDSA", PrivateJWK: secret, CreatedAt: time.Now(), SignFrom: time.Now()}

	s, err := Open(ctx, path, WithEncryptionKey(key))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(ctx, sk); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := s.r.QueryRowContext(ctx, `SELECT private_jwk FROM signing_keys`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte("very-secret")) {
		t.Error("private key is stored in plaintext despite WithEncryptionKey")
	}
	s.Close()

	tests := []struct {
		name    string
		opts    []Option
		wantErr bool
	}{
		{"SameKey", []Option{WithEncryptionKey(key)}, false},
		{"WrongKey", []Option{WithEncryptionKey(other)}, true},
		{"NoKey", nil, true},
		{"RotatedKey", []Option{WithEncryptionKey(other), WithPreviousEncryptionKeys(key)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, path, tt.opts...)
			keys, err := s.ListKeys(ctx)
			if tt.wantErr {
				if !errors.Is(err, ErrEncryptionKey) {
					t.Fatalf("ListKeys = %v, want ErrEncryptionKey", err)
				}
				return
			}
			if err != nil || len(keys) != 1 || !bytes.Equal(keys[0].PrivateJWK, secret) {
				t.Fatalf("ListKeys = %v, %v", keys, err)
			}
		})
	}

	t.Run("BadKeySize", func(t *testing.T) {
		if _, err := Open(ctx, ":memory:", WithEncryptionKey(make([]byte, 16))); err == nil {
			t.Error("Open accepted a 16-byte encryption key")
		}
	})
	t.Run("PlaintextThenEncrypted", func(t *testing.T) {
		p := tempPath(t)
		s := open(t, p)
		if err := s.AddKey(ctx, sk); err != nil {
			t.Fatal(err)
		}
		s2 := open(t, p, WithEncryptionKey(key))
		keys, err := s2.ListKeys(ctx)
		if err != nil || len(keys) != 1 || !bytes.Equal(keys[0].PrivateJWK, secret) {
			t.Fatalf("ListKeys of a plaintext row with a key configured = %v, %v", keys, err)
		}
	})
}

// TestConcurrentWriters runs many writers through two Stores on one file, as
// two processes would: none may see SQLITE_BUSY.
func TestConcurrentWriters(t *testing.T) {
	ctx := t.Context()
	path := tempPath(t)
	a, b := open(t, path), open(t, path)
	now := time.Now()
	if err := a.CreateGrant(ctx, &mcpauth.GrantRecord{ID: "g", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range each {
				d := fmt.Sprintf("w%d-%d", w, i)
				rec := &mcpauth.CodeRecord{GrantID: "g", ExpiresAt: now.Add(time.Hour)}
				if err := s.SaveCode(ctx, d, rec); err != nil {
					errs <- err
					continue
				}
				if _, err := s.ConsumeCode(ctx, d); err != nil {
					errs <- err
				}
				if err := s.SaveRefresh(ctx, d, &mcpauth.RefreshRecord{GrantID: "g", ExpiresAt: now.Add(time.Hour)}); err != nil {
					errs <- err
				} else if _, err := s.RotateRefresh(ctx, d, d+"'", &mcpauth.RefreshRecord{GrantID: "g", ExpiresAt: now.Add(time.Hour)}, 0); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestBusyIsUnavailable holds the write lock from another connection past
// the busy timeout: the store reports ErrUnavailable, then recovers.
func TestBusyIsUnavailable(t *testing.T) {
	ctx := t.Context()
	path := tempPath(t)
	s := open(t, path, WithBusyTimeout(50*time.Millisecond))

	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	rec := &mcpauth.CodeRecord{ExpiresAt: time.Now().Add(time.Hour)}
	err = s.SaveCode(ctx, "d", rec)
	if !errors.Is(err, mcpauth.ErrUnavailable) {
		t.Fatalf("SaveCode while another process holds the lock = %v, want ErrUnavailable", err)
	}
	// Reads go on in WAL mode.
	if _, err := s.GetClient(ctx, "nobody"); !errors.Is(err, mcpauth.ErrNotFound) {
		t.Errorf("GetClient while locked = %v, want ErrNotFound", err)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCode(ctx, "d", rec); err != nil {
		t.Fatalf("SaveCode after the lock is released: %v", err)
	}
}

// TestDeadlineIsUnavailable: a context that expires while waiting for the
// writer is an outage, not a bug.
func TestDeadlineIsUnavailable(t *testing.T) {
	s := open(t, tempPath(t))
	ctx, cancel := context.WithTimeout(t.Context(), -time.Second)
	defer cancel()
	err := s.SaveCode(ctx, "d", &mcpauth.CodeRecord{ExpiresAt: time.Now().Add(time.Hour)})
	if !errors.Is(err, mcpauth.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SaveCode with an expired context = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
}

// TestConcurrentMigrate opens one fresh file from 8 goroutines at once.
func TestConcurrentMigrate(t *testing.T) {
	path := tempPath(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(t.Context(), path)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
	s := open(t, path)
	var n int
	files, _ := fs.Glob(migrationFS, "migrations/*.sql")
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(files) {
		t.Errorf("schema_migrations rows = %d, %v; want %d", n, err, len(files))
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
	}{
		{"QueryInPath", "/tmp/x.db?mode=ro"},
		{"MissingDirectory", filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := Open(t.Context(), tt.path); err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tt.path)
			}
		})
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(tb testing.TB) storetest.Stores { return stores(open(tb, tempPath(tb))) })
}

// BenchmarkMillionClients measures client lookup and registration with one
// million clients present. The fixture is built once, outside the timings.
func BenchmarkMillionClients(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a one-million-client fixture")
	}
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "million.db")
	s := open(b, path)
	start := time.Now()
	if err := bulkClients(b.Context(), s, n); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d clients in %v", n, time.Since(start).Round(time.Millisecond))
	storetest.RunClientScaleBenchmarks(b, s, n)
}

// bulkClients inserts n clients in one transaction with a prepared insert.
func bulkClients(ctx context.Context, s *Store, n int) error {
	c := storetest.ScaleClient("")
	meta := clientMeta(c)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO clients (id, secret_digest, metadata) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := range n {
		if _, err := stmt.ExecContext(ctx, storetest.ScaleClientID(i), c.SecretDigest, meta); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// clientMeta is the metadata column for c (GetClient takes the ID from the row).
func clientMeta(c *mcpauth.Client) string {
	cp := *c
	cp.SecretDigest = nil
	b, _ := json.Marshal(&cp) // a Client always marshals
	return string(b)
}
