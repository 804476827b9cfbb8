package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// ReencryptKeys encrypts under the current [WithEncryptionKey] key every
// stored key that is not: plaintext rows written before encryption was
// enabled, and rows under a [WithPreviousEncryptionKeys] key. The rewrite
// runs with secure_delete on and then truncates the WAL, so the old bytes
// do not linger in the database files. It reports how many keys it
// rewrote; without an encryption key it does nothing. A row that no
// configured key decrypts fails it with an error wrapping ErrEncryptionKey.
func (s *Store) ReencryptKeys(ctx context.Context) (int, error) {
	if s.sealer == nil {
		return 0, nil
	}
	conn, err := s.w.Conn(ctx) // the single writer: the pragma applies to what follows
	if err != nil {
		return 0, s.fail("reencrypt keys", err)
	}
	defer conn.Close()
	type row struct {
		kid    string
		stored []byte
		encID  sql.NullString
	}
	var todo []row
	rows, err := conn.QueryContext(ctx, `SELECT kid, private_jwk, enc_key_id FROM signing_keys
		WHERE enc_key_id IS NULL OR enc_key_id <> ?`, s.encKeyID)
	if err != nil {
		return 0, s.fail("reencrypt keys", err)
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.kid, &r.stored, &r.encID); err != nil {
			rows.Close()
			return 0, s.fail("reencrypt keys", err)
		}
		todo = append(todo, r)
	}
	if err := rows.Close(); err != nil {
		return 0, s.fail("reencrypt keys", err)
	}
	if len(todo) == 0 {
		return 0, nil
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return 0, s.fail("reencrypt keys", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = OFF`)
	n := 0
	for _, r := range todo {
		pt, err := s.sealer.Open(r.kid, r.stored, r.encID.String)
		if err != nil {
			return n, fmt.Errorf("sqlite: reencrypt keys: %w", err)
		}
		ct, id, err := s.sealer.Seal(r.kid, pt)
		if err != nil {
			return n, fmt.Errorf("sqlite: reencrypt keys: %w", err)
		}
		// Only if unchanged meanwhile (another process may have done it).
		res, err := conn.ExecContext(ctx, `UPDATE signing_keys SET private_jwk = ?, enc_key_id = ?
			WHERE kid = ? AND enc_key_id IS ?`, ct, id, r.kid, r.encID)
		if err != nil {
			return n, s.fail("reencrypt keys", err)
		}
		if c, _ := res.RowsAffected(); c == 1 {
			n++
		}
	}
	// Copy the rewritten pages into the database and empty the WAL, which
	// still holds the old page images.
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return n, s.fail("reencrypt keys", err)
	}
	return n, nil
}
