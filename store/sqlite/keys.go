package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// ListKeys implements [store.KeyStore]. A key that cannot be decrypted
// fails the whole call with an error wrapping [ErrEncryptionKey].
func (s *Store) ListKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT kid, alg, private_jwk, enc_key_id, created_at, sign_from, expires_at
		FROM signing_keys ORDER BY created_at DESC, rowid`)
	if err != nil {
		return nil, s.fail("list keys", err)
	}
	defer rows.Close()
	var keys []store.SigningKey
	for rows.Next() {
		var (
			k               store.SigningKey
			stored          []byte
			encKeyID        sql.NullString
			created, signAt int64
			expires         sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &stored, &encKeyID, &created, &signAt, &expires); err != nil {
			return nil, s.fail("list keys", err)
		}
		if k.PrivateJWK, err = s.sealer.Open(k.ID, stored, encKeyID.String); err != nil {
			return nil, fmt.Errorf("sqlite: list keys: %w", err)
		}
		k.CreatedAt, k.SignFrom, k.ExpiresAt = fromMicros(created), fromMicros(signAt), fromNullMicros(expires)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list keys", err)
	}
	return keys, nil
}

// AddKey implements [store.KeyStore], encrypting the private key when an
// encryption key is configured.
func (s *Store) AddKey(ctx context.Context, k store.SigningKey) error {
	stored, encKeyID, err := s.sealer.Seal(k.ID, k.PrivateJWK)
	if err != nil {
		return fmt.Errorf("sqlite: add key: %w", err)
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO signing_keys (kid, alg, private_jwk, enc_key_id, created_at, sign_from, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		k.ID, k.Algorithm, stored, sql.NullString{String: encKeyID, Valid: encKeyID != ""},
		micros(k.CreatedAt), micros(k.SignFrom), nullMicros(k.ExpiresAt))
	if err != nil {
		return s.fail("add key", err)
	}
	if ok, err := changed(res); err != nil {
		return s.fail("add key", err)
	} else if !ok {
		return store.ErrConflict
	}
	return nil
}

// RetireKey implements [store.KeyStore].
func (s *Store) RetireKey(ctx context.Context, id string, expiresAt time.Time) error {
	_, err := s.w.ExecContext(ctx, `UPDATE signing_keys SET expires_at = ?2
		WHERE kid = ?1 AND (expires_at IS NULL OR expires_at > ?2)`, id, micros(expiresAt))
	if err != nil {
		return s.fail("retire key", err)
	}
	return nil
}

// DeleteKey implements [store.KeyStore].
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM signing_keys WHERE kid = ?`, id); err != nil {
		return s.fail("delete key", err)
	}
	return nil
}
