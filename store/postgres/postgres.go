// Package postgres keeps mcpauth state in PostgreSQL (via pgx), for several
// server replicas behind a load balancer.
//
// One [Store] implements [store.ClientStore], [store.GrantStore] and
// [store.KeyStore]; hand the same value to all three Config fields. Every
// replica opens its own Store on the same database and schema.
//
// Tables live in their own schema (default "mcpauth", see [WithSchema]),
// created with the tables by the embedded migrations that [Open] and [New]
// apply. Replicas starting at once serialize on an advisory lock; one
// migrates, the others find the work done.
//
// Single-use records are redeemed by single conditional statements, so of
// any number of concurrent callers on any number of replicas exactly one
// wins. Connection failures (the database restarting, a failover, a killed
// backend, a pool that cannot connect before the context's deadline) are
// returned wrapping [store.ErrUnavailable]; the pool reconnects by itself
// when the database is back.
//
// Private signing keys are stored in plaintext unless [WithEncryptionKey]
// supplies an AES-256 key. Expired records stay until the server's periodic
// [Store.DeleteExpired] removes them.
//
// Statements are prepared and cached per connection (pgx's default). Behind
// a pooler in transaction mode, add default_query_exec_mode=exec to the DSN.
package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mcpauth/mcpauth/store"
	"github.com/mcpauth/mcpauth/store/internal/keycrypt"
	"github.com/mcpauth/mcpauth/store/internal/migrate"
)

// ErrEncryptionKey is returned (wrapped) by ListKeys when a stored signing key
// cannot be decrypted: it was encrypted under another key, no key is
// configured, or the row was altered.
var ErrEncryptionKey = keycrypt.ErrKey

// DefaultSchema is the schema the tables live in unless [WithSchema] says otherwise.
const DefaultSchema = "mcpauth"

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a PostgreSQL-backed ClientStore, GrantStore and KeyStore. It is
// safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	owned  bool // Close closes the pool
	schema string
	q      *queries
	now    func() time.Time
	sealer *keycrypt.Sealer
	log    *slog.Logger
}

var (
	_ store.ClientStore = (*Store)(nil)
	_ store.GrantStore  = (*Store)(nil)
	_ store.KeyStore    = (*Store)(nil)
)

// Option configures [Open] and [New].
type Option func(*options)

type options struct {
	schema   string
	now      func() time.Time
	encKey   []byte
	prevKeys [][]byte
	logger   *slog.Logger
}

// WithSchema sets the schema holding the tables; it is created if missing.
// Default [DefaultSchema]. Tests use a fresh schema each.
func WithSchema(name string) Option { return func(o *options) { o.schema = name } }

// WithClock sets the clock the store judges expiry by. Default time.Now.
// Replicas should agree on the time: run NTP.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithEncryptionKey encrypts private signing keys at rest with AES-256-GCM
// under key (32 bytes), which every replica must share. Each row records
// which key encrypted it, so keys written under a previous key stay readable
// with [WithPreviousEncryptionKeys] and plaintext rows from before
// encryption was enabled stay readable.
func WithEncryptionKey(key []byte) Option {
	return func(o *options) { o.encKey = append([]byte(nil), key...) }
}

// WithPreviousEncryptionKeys adds keys that only decrypt: those being rotated
// out. New signing keys are encrypted under WithEncryptionKey.
func WithPreviousEncryptionKeys(keys ...[]byte) Option {
	return func(o *options) {
		for _, k := range keys {
			o.prevKeys = append(o.prevKeys, append([]byte(nil), k...))
		}
	}
}

// WithLogger sets the logger for migrations. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

func buildOptions(opts []Option) options {
	o := options{schema: DefaultSchema, now: time.Now, logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Open connects to the database at dsn (a PostgreSQL URL or key=value
// string; pool_max_conns and the other pgxpool settings apply), applies
// pending migrations and returns a Store that owns the pool. It does not
// wait for the database: if it is down, Open fails with ErrUnavailable.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := buildOptions(opts)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if o.schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{o.schema}.Sanitize()
	}
	// Single-use statements rely on READ COMMITTED's re-check of a row
	// another transaction just changed, whatever the database default.
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "read committed"
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s, err := newStore(ctx, pool, o)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// New returns a Store on an existing pool, applying pending migrations.
// Close leaves the pool open. Queries name the schema explicitly, so the
// pool's search_path does not matter.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	return newStore(ctx, pool, buildOptions(opts))
}

func newStore(ctx context.Context, pool *pgxpool.Pool, o options) (*Store, error) {
	if o.schema == "" {
		return nil, errors.New("postgres: empty schema name")
	}
	sealer, err := keycrypt.New(o.encKey, o.prevKeys...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{
		pool:   pool,
		schema: o.schema,
		q:      newQueries(pgx.Identifier{o.schema}.Sanitize()),
		now:    o.now,
		sealer: sealer,
		log:    o.logger,
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close closes the pool if Open made it.
func (s *Store) Close() error {
	if s.owned {
		s.pool.Close()
	}
	return nil
}

// Pool returns the underlying connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// migrate applies the embedded migrations not yet in schema_migrations, in
// one transaction holding an advisory lock keyed by the schema, so replicas
// starting together migrate once.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	ident := pgx.Identifier{s.schema}.Sanitize()
	return s.inTx(ctx, "migrate", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(s.schema)); err != nil {
			return err
		}
		// Check first: CREATE SCHEMA IF NOT EXISTS needs the CREATE
		// privilege even when the schema exists.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, s.schema).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA `+ident); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+ident); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    bigint PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		applied := make(map[int64]bool, len(versions))
		for _, v := range versions {
			applied[v] = true
		}
		for _, m := range ms {
			if applied[m.Version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return err
			}
			s.log.LogAttrs(ctx, slog.LevelInfo, "mcpauth/postgres: applied migration",
				slog.String("schema", s.schema), slog.Int64("version", m.Version), slog.String("name", m.Name))
		}
		return nil
	})
}

// lockKey is the advisory lock id for migrating schema.
func lockKey(schema string) int64 {
	h := sha256.Sum256([]byte("mcpauth migrate\x00" + schema))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// inTx runs f in a transaction, committing if it returns nil.
func (s *Store) inTx(ctx context.Context, op string, f func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.fail(op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := f(tx); err != nil {
		return s.fail(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// fail wraps err from operation op, marking outages as ErrUnavailable.
func (s *Store) fail(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// unavailable reports whether err is worth retrying later: the connection
// failed or could not be made, the server is shutting down, starting,
// overloaded or read-only (a failover), or the deadline passed.
func unavailable(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch code := pgErr.Code; {
		case strings.HasPrefix(code, "08"), // connection exception
			strings.HasPrefix(code, "53"),    // insufficient resources
			strings.HasPrefix(code, "57P"),   // admin/crash shutdown, cannot connect now
			strings.HasPrefix(code, "58"),    // system (I/O) error
			code == "57014",                  // query canceled: statement_timeout
			code == "25006",                  // read-only transaction: a standby
			code == "40001", code == "40P01": // serialization failure, deadlock
			return true
		}
		return false
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) ||
		pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// isUniqueViolation reports a duplicate key.
func isUniqueViolation(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pgErr.Code == "23505"
}

// utc returns t in UTC; pgx returns timestamptz in local time.
func utc(t time.Time) time.Time { return t.UTC() }

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// fromNullTime reverses nullTime.
func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// scopes is the stored form of a scope list: never NULL.
func scopes(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// orNil maps an empty scope list to nil, as the memory store returns it.
func orNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
