package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// ListKeys implements [store.KeyStore]. A key that cannot be decrypted
// fails the whole call with an error wrapping [ErrEncryptionKey].
func (s *Store) ListKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, s.q.sql[qListKeys])
	if err != nil {
		return nil, s.fail("list keys", err)
	}
	defer rows.Close()
	var keys []store.SigningKey
	for rows.Next() {
		var (
			k        store.SigningKey
			stored   []byte
			encKeyID *string
			expires  *time.Time
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &stored, &encKeyID, &k.CreatedAt, &k.SignFrom, &expires); err != nil {
			return nil, s.fail("list keys", err)
		}
		var id string
		if encKeyID != nil {
			id = *encKeyID
		}
		if k.PrivateJWK, err = s.sealer.Open(k.ID, stored, id); err != nil {
			return nil, fmt.Errorf("postgres: list keys: %w", err)
		}
		k.CreatedAt, k.SignFrom, k.ExpiresAt = utc(k.CreatedAt), utc(k.SignFrom), fromNullTime(expires)
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
		return fmt.Errorf("postgres: add key: %w", err)
	}
	var id *string
	if encKeyID != "" {
		id = &encKeyID
	}
	return s.insert(ctx, "add key", qAddKey, k.ID, k.Algorithm, stored, id, k.CreatedAt, k.SignFrom, nullTime(k.ExpiresAt))
}

// RetireKey implements [store.KeyStore].
func (s *Store) RetireKey(ctx context.Context, id string, expiresAt time.Time) error {
	return s.exec(ctx, "retire key", qRetireKey, id, expiresAt)
}

// DeleteKey implements [store.KeyStore].
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	return s.exec(ctx, "delete key", qDeleteKey, id)
}
