// Package sqlite keeps mcpauth state in a SQLite database file, using the
// pure-Go driver modernc.org/sqlite (no cgo).
//
// One [Store] implements [store.ClientStore], [store.GrantStore] and
// [store.KeyStore]; hand the same value to all three Config fields. SQLite
// suits a single server process (several processes on one host may share the
// file, serialized by SQLite's locks); for several replicas behind a load
// balancer use package store/postgres.
//
// The database runs in WAL mode: readers never wait for the writer. All
// writes go through one connection, so writers queue in the process instead
// of failing with SQLITE_BUSY; another process holding the lock longer than
// the busy timeout (default 5 s) yields an error wrapping
// [store.ErrUnavailable].
//
// Private signing keys are stored in plaintext unless [WithEncryptionKey]
// supplies an AES-256 key; [Store.ReencryptKeys] encrypts rows written
// before it was given. The database file is created with mode 0600. Expired records stay until the server's periodic
// [Store.DeleteExpired] removes them.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mcpauth/mcpauth/internal/wake"
	"github.com/mcpauth/mcpauth/store"
	"github.com/mcpauth/mcpauth/store/internal/keycrypt"
	"github.com/mcpauth/mcpauth/store/internal/migrate"
)

// ErrEncryptionKey is returned (wrapped) by ListKeys when a stored signing key
// cannot be decrypted: it was encrypted under another key, no key is
// configured, or the row was altered.
var ErrEncryptionKey = keycrypt.ErrKey

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a SQLite-backed ClientStore, GrantStore and KeyStore. It is safe
// for concurrent use.
type Store struct {
	w      *sql.DB // the single writer connection
	r      *sql.DB // readers; the writer itself for in-memory databases
	now    func() time.Time
	sealer *keycrypt.Sealer
	log    *slog.Logger
	// encKeyID names the current encryption key ("" without one).
	encKeyID string

	feed wake.Set   // feed.go: wakes revocation feed watchers
	gc   committer  // group commit of writes (groupcommit.go)
	st   statements // prepared once
}

var (
	_ store.ClientStore = (*Store)(nil)
	_ store.GrantStore  = (*Store)(nil)
	_ store.KeyStore    = (*Store)(nil)
)

// Option configures [Open].
type Option func(*options)

type options struct {
	now         func() time.Time
	busyTimeout time.Duration
	encKey      []byte
	prevKeys    [][]byte
	logger      *slog.Logger
	readers     int
}

// WithClock sets the clock the store judges expiry by. Default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithBusyTimeout sets how long a statement waits for a lock held by another
// process before failing with ErrUnavailable. Default 5 s.
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithEncryptionKey encrypts private signing keys at rest with AES-256-GCM
// under key (32 bytes). Each row records which key encrypted it, so keys
// written under a previous key stay readable with [WithPreviousEncryptionKeys]
// and plaintext rows from before encryption was enabled stay readable.
func WithEncryptionKey(key []byte) Option {
	return func(o *options) { o.encKey = append([]byte(nil), key...) }
}

// WithPreviousEncryptionKeys adds keys that only decrypt: those being rotated
// out. New and re-added signing keys are encrypted under WithEncryptionKey.
func WithPreviousEncryptionKeys(keys ...[]byte) Option {
	return func(o *options) {
		for _, k := range keys {
			o.prevKeys = append(o.prevKeys, append([]byte(nil), k...))
		}
	}
}

// WithLogger sets the logger for migrations. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithReaders sets the size of the read connection pool. Default
// max(4, GOMAXPROCS).
func WithReaders(n int) Option { return func(o *options) { o.readers = n } }

// Open opens (creating if needed, with mode 0600) the database at path and
// applies pending migrations. path ":memory:" (or "") gives a private in-memory database on
// one connection, for tests. Several processes may Open one file at once:
// migrations run in a BEGIN IMMEDIATE transaction, so one applies them and
// the rest see them applied.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{
		now:         time.Now,
		busyTimeout: 5 * time.Second,
		logger:      slog.Default(),
		readers:     max(4, runtime.GOMAXPROCS(0)),
	}
	for _, opt := range opts {
		opt(&o)
	}
	sealer, err := keycrypt.New(o.encKey, o.prevKeys...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	memory := path == "" || path == ":memory:"
	if memory {
		path = ":memory:"
	} else if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: path %q: must not contain ? or #", path)
	} else if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}

	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if !memory {
		q.Add("_pragma", "journal_mode(WAL)")
		// FULL: a consumed code must stay consumed across a power loss.
		q.Add("_pragma", "synchronous(FULL)")
	}
	q.Set("_txlock", "immediate") // a write transaction takes the lock up front
	w, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// One writer: writes queue here rather than racing for SQLite's lock.
	// The connection never expires, which keeps an in-memory database alive.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	s := &Store{w: w, r: w, now: o.now, sealer: sealer, log: o.logger}
	if sealer != nil {
		s.encKeyID = keycrypt.KeyID(o.encKey)
	}
	if !memory {
		q.Add("_pragma", "query_only(1)")
		r, err := sql.Open("sqlite", path+"?"+q.Encode())
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		r.SetMaxOpenConns(o.readers)
		r.SetMaxIdleConns(o.readers)
		s.r = r
	}
	if err := s.migrateRetrying(ctx, o.busyTimeout); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// createPrivate creates the database file, empty (which SQLite takes for a
// new database), with mode 0600 when it does not exist yet: it holds
// signing keys and grants. SQLite gives the -wal and -shm files it makes
// later the database file's mode. An existing file keeps its mode.
func createPrivate(path string) error {
	if strings.HasPrefix(path, "file:") {
		return nil // a URI: SQLite resolves it
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// Close closes the database.
func (s *Store) Close() error {
	err := errors.Join(s.closeStatements(), s.w.Close())
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// migrateRetrying runs migrate, again while it fails with SQLITE_BUSY for
// up to wait: a process opening a fresh file while another turns it to WAL
// can be refused the lock without SQLite's busy handler being consulted.
func (s *Store) migrateRetrying(ctx context.Context, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		err := s.migrate(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().Add(pause).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// migrate applies the embedded migrations not yet in schema_migrations.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one process migrates
	if err != nil {
		return s.fail("migrate", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return s.fail("migrate", err)
	}
	applied := make(map[int64]bool)
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return s.fail("migrate", err)
	}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return s.fail("migrate", err)
		}
		applied[v] = true
	}
	if err := rows.Close(); err != nil {
		return s.fail("migrate", err)
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return s.fail(fmt.Sprintf("migration %d_%s", m.Version, m.Name), err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, time.Now().UnixMicro()); err != nil {
			return s.fail("migrate", err)
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "mcpauth/sqlite: applied migration",
			slog.Int64("version", m.Version), slog.String("name", m.Name))
	}
	if err := tx.Commit(); err != nil {
		return s.fail("migrate", err)
	}
	return nil
}

// fail wraps err from operation op, marking outages as ErrUnavailable.
func (s *Store) fail(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// unavailable reports whether err is worth retrying later: a lock held past
// the busy timeout, I/O trouble, or a deadline spent waiting for the writer.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL, sqlite3.SQLITE_PROTOCOL,
			sqlite3.SQLITE_NOMEM:
			return true
		}
	}
	return false
}

// micros is the stored form of a time: Unix microseconds (year 1 for zero).
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros stores the zero time as NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros reverses micros; the result is in UTC.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// fromNullMicros reverses nullMicros.
func fromNullMicros(us sql.NullInt64) time.Time {
	if !us.Valid {
		return time.Time{}
	}
	return fromMicros(us.Int64)
}
