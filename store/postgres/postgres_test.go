package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mcpauth/mcpauth/store"
	"github.com/mcpauth/mcpauth/store/storetest"
)

const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// quiet drops the migration logs.
var quiet = slog.New(slog.DiscardHandler)

// testDSN returns the test database's DSN (MCPAUTH_TEST_POSTGRES_DSN or the
// local default). An unreachable database skips the test locally and fails
// it when CI=true: CI must run these tests.
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("MCPAUTH_TEST_POSTGRES_DSN")
	if dsn == "" {
		dsn = defaultDSN
	}
	ctx, cancel := context.WithTimeout(tb.Context(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL unreachable at %s (set MCPAUTH_TEST_POSTGRES_DSN): %v", dsn, err)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return dsn
}

// freshSchema returns a new schema name, dropped when the test ends.
func freshSchema(tb testing.TB, dsn string) string {
	tb.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "mcpauth_test_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// open opens a store on a fresh schema, closed when the test ends. The
// cleanups run in reverse, so the pool closes before the schema is dropped.
func open(tb testing.TB, opts ...Option) *Store {
	tb.Helper()
	dsn := testDSN(tb)
	schema := freshSchema(tb, dsn)
	return openSchema(tb, dsn, schema, opts...)
}

func openSchema(tb testing.TB, dsn, schema string, opts ...Option) *Store {
	tb.Helper()
	s, err := Open(tb.Context(), dsn, append([]Option{WithSchema(schema), WithLogger(quiet)}, opts...)...)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func stores(s *Store) storetest.Stores {
	return storetest.Stores{Clients: s, Grants: s, Keys: s, Now: s.now}
}

// TestConformance runs the suite on one schema, emptied before each subtest
// (the suite runs them one at a time): a schema each would cost a migration.
func TestConformance(t *testing.T) {
	t.Parallel()
	clock := new(storetest.Clock)
	s := open(t, WithClock(clock.Now))
	truncate := `TRUNCATE ` + strings.Join([]string{
		pgx.Identifier{s.schema, "clients"}.Sanitize(),
		pgx.Identifier{s.schema, "codes"}.Sanitize(),
		pgx.Identifier{s.schema, "grants"}.Sanitize(),
		pgx.Identifier{s.schema, "grant_delegations"}.Sanitize(),
		pgx.Identifier{s.schema, "grant_budgets"}.Sanitize(),
		pgx.Identifier{s.schema, "client_assertions"}.Sanitize(),
		pgx.Identifier{s.schema, "refresh_tokens"}.Sanitize(),
		pgx.Identifier{s.schema, "denied_tokens"}.Sanitize(),
		pgx.Identifier{s.schema, "pending_authorizations"}.Sanitize(),
		pgx.Identifier{s.schema, "signing_keys"}.Sanitize(),
	}, ", ") + ` RESTART IDENTITY`
	storetest.Run(t, func(tb testing.TB) storetest.Stores {
		if _, err := s.pool.Exec(tb.Context(), truncate); err != nil {
			tb.Fatalf("truncate: %v", err)
		}
		resetFeed(tb, s) // feed_test.go
		st := stores(s)
		st.Advance = clock.Advance
		return st
	})
}

// TestConcurrentMigrate opens one fresh schema from 8 goroutines at once:
// no errors and one set of tables.
func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(t.Context(), dsn, WithSchema(schema), WithLogger(quiet))
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
	s := openSchema(t, dsn, schema) // and once more, with nothing to do
	var tables, versions int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	// 0004_agents adds grant_delegations, grant_budgets, client_assertions;
	// the revocation feed (0013) two more.
	if tables != 8+3+2 || versions != numMigrations(t) {
		t.Errorf("schema has %d tables and %d migrations, want %d and %d", tables, versions, 8+3+2, numMigrations(t))
	}
}

// TestNew checks a Store on a caller's pool, whose search_path is elsewhere.
func TestNew(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	a := openSchema(t, dsn, schema)
	b, err := New(t.Context(), a.Pool(), WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := b.CreateGrant(t.Context(), &store.GrantRecord{ID: "g", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetGrant(t.Context(), "g"); err != nil {
		t.Errorf("grant created through New not seen through Open: %v", err)
	}
	b.Close()
	if err := a.Pool().Ping(t.Context()); err != nil {
		t.Errorf("Close of a New store closed the caller's pool: %v", err)
	}
}

func encKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// TestEncryption checks that private keys are encrypted at rest and that a
// wrong or missing key is a clear error.
func TestEncryption(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	key, other := encKey(), encKey()
	secret := []byte(`{"kty":"OKP","d":"very-secret-private-part"}`)
	now := time.Now()
	s := openSchema(t, dsn, schema, WithEncryptionKey(key))
	if err := s.AddKey(ctx, store.SigningKey{ID: "k1", Algorithm: "EdDSA", PrivateJWK: secret, CreatedAt: now, SignFrom: now}); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	var keyID string
	if err := s.pool.QueryRow(ctx, `SELECT private_jwk, enc_key_id FROM `+pgx.Identifier{schema, "signing_keys"}.Sanitize()).Scan(&stored, &keyID); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte("very-secret")) || keyID == "" {
		t.Errorf("private key stored as %q under key id %q: not encrypted", stored, keyID)
	}

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
			s := openSchema(t, dsn, schema, tt.opts...)
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
}

// TestUnreachable: a database that refuses connections is ErrUnavailable.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = Open(t.Context(), "postgres://postgres@"+addr+"/test?sslmode=disable&connect_timeout=2")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open on a closed port = %v, want ErrUnavailable", err)
	}
}

// TestDeadlineIsUnavailable: a context that expires while waiting for a
// connection or a reply is an outage, not a bug.
func TestDeadlineIsUnavailable(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx, cancel := context.WithTimeout(t.Context(), -time.Second)
	defer cancel()
	_, err := s.GetGrant(ctx, "g")
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetGrant with an expired context = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
}

func TestUnavailableClassification(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"AdminShutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"CannotConnectNow", &pgconn.PgError{Code: "57P03"}, true},
		{"ConnectionFailure", &pgconn.PgError{Code: "08006"}, true},
		{"TooManyConnections", &pgconn.PgError{Code: "53300"}, true},
		{"ReadOnlyStandby", &pgconn.PgError{Code: "25006"}, true},
		{"StatementTimeout", &pgconn.PgError{Code: "57014"}, true},
		{"UniqueViolation", &pgconn.PgError{Code: "23505"}, false},
		{"SyntaxError", &pgconn.PgError{Code: "42601"}, false},
		{"UndefinedTable", &pgconn.PgError{Code: "42P01"}, false},
		{"NoRows", pgx.ErrNoRows, false},
		{"Refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"BrokenPipe", fmt.Errorf("write: %w", syscall.EPIPE), true},
		{"UnexpectedEOF", fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), true},
		{"ConnClosed", pgconn.ErrConnClosed, true},
		{"Deadline", context.DeadlineExceeded, true},
		{"Canceled", context.Canceled, false},
		{"Other", errors.New("cannot encode"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unavailable(tt.err); got != tt.want {
				t.Errorf("unavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// killableStore opens a store on its own pool, whose connections carry an
// application_name so a test can kill exactly them with pg_terminate_backend.
func killableStore(t *testing.T, dsn, schema string) (*Store, string) {
	t.Helper()
	app := "mcpauth_kill_" + schema[len("mcpauth_test_"):]
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := New(t.Context(), pool, WithSchema(schema), WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	return s, app
}

// TestTerminatedBackends kills the store's connections with
// pg_terminate_backend while goroutines race to redeem codes: every error
// must be ErrUnavailable or a replay, no code may be redeemed twice, and the
// store must work again once the killing stops.
func TestTerminatedBackends(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills database connections for a few seconds")
	}
	ctx := t.Context()
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	s, app := killableStore(t, dsn, schema)

	now := time.Now()
	if err := s.CreateGrant(ctx, &store.GrantRecord{ID: "g", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	killer, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(context.Background())
	stop := make(chan struct{})
	var kills atomic.Int64
	var killerDone sync.WaitGroup
	killerDone.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			var n int64
			err := killer.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n)
			if err != nil {
				t.Errorf("pg_terminate_backend: %v", err)
				return
			}
			kills.Add(n)
		}
	})

	// Race 8 redeemers per code for 3 s of killing.
	const racers = 8
	var (
		redeemed, unavailable, replayed atomic.Int64
		mu                              sync.Mutex
		unexpected                      []error
		wins                            []int // successful redemptions per code
	)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		d := "code-" + strconv.Itoa(len(wins))
		wins = append(wins, 0)
		rec := &store.CodeRecord{GrantID: "g", ExpiresAt: now.Add(time.Hour)}
		if err := s.SaveCode(ctx, d, rec); err != nil {
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("SaveCode: %v", err)
			}
			unavailable.Add(1)
			// The code may or may not exist now: racing on it still must
			// not redeem it twice.
		}
		var won atomic.Int32
		var wg sync.WaitGroup
		for range racers {
			wg.Go(func() {
				_, err := s.ConsumeCode(ctx, d)
				switch {
				case err == nil:
					won.Add(1)
					redeemed.Add(1)
				case errors.Is(err, store.ErrUnavailable):
					unavailable.Add(1)
				case errors.Is(err, store.ErrCodeReplayed), errors.Is(err, store.ErrNotFound):
					replayed.Add(1)
				default:
					mu.Lock()
					unexpected = append(unexpected, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		wins[len(wins)-1] = int(won.Load())
	}
	close(stop)
	killerDone.Wait()

	for _, err := range unexpected {
		t.Errorf("unexpected error under connection kills: %v", err)
	}
	for i, n := range wins {
		if n > 1 {
			t.Errorf("code %d redeemed %d times", i, n)
		}
	}
	t.Logf("%d backends killed; of %d codes %d redeemed; %d replays, %d unavailable",
		kills.Load(), len(wins), redeemed.Load(), replayed.Load(), unavailable.Load())
	if kills.Load() == 0 || unavailable.Load() == 0 {
		t.Fatalf("the test killed %d backends and saw %d outages: it tested nothing", kills.Load(), unavailable.Load())
	}

	// Recovery: pgxpool pings connections idle for over a second before
	// reuse and replaces the dead ones.
	time.Sleep(1500 * time.Millisecond)
	for i := range 50 {
		d := "after-" + strconv.Itoa(i)
		if err := s.SaveCode(ctx, d, &store.CodeRecord{GrantID: "g", ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatalf("SaveCode after the outage: %v", err)
		}
		if _, err := s.ConsumeCode(ctx, d); err != nil {
			t.Fatalf("ConsumeCode after the outage: %v", err)
		}
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(tb testing.TB) storetest.Stores { return stores(open(tb)) })
}

// BenchmarkMillionClients measures client lookup and registration with one
// million clients present, loaded with COPY outside the timings.
func BenchmarkMillionClients(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a one-million-client fixture")
	}
	const n = 1_000_000
	s := open(b)
	start := time.Now()
	c := storetest.ScaleClient("")
	meta := clientMeta(c)
	copied, err := s.pool.CopyFrom(b.Context(), pgx.Identifier{s.schema, "clients"},
		[]string{"id", "secret_digest", "metadata"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			return []any{storetest.ScaleClientID(i), c.SecretDigest, meta}, nil
		}))
	if err != nil || copied != n {
		b.Fatalf("COPY: %d rows, %v", copied, err)
	}
	if _, err := s.pool.Exec(b.Context(), `ANALYZE `+pgx.Identifier{s.schema, "clients"}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d clients in %v", n, time.Since(start).Round(time.Millisecond))
	storetest.RunClientScaleBenchmarks(b, s, n)
}

// clientMeta is the metadata column for c (GetClient takes the ID from the row).
func clientMeta(c *store.Client) string {
	cp := *c
	cp.SecretDigest = nil
	b, _ := json.Marshal(&cp) // a Client always marshals
	return string(b)
}
