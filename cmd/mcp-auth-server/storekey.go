package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// storeKeySize is the length of the store encryption key: AES-256.
const storeKeySize = 32

// parseStoreKey reads a -store-key: 32 bytes as base64 (standard or URL
// alphabet, padded or not) or as 64 hex digits.
func parseStoreKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*storeKeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != storeKeySize {
				return nil, fmt.Errorf("the key is %d bytes, want %d (e.g. openssl rand -base64 32)", len(k), storeKeySize)
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("want %d bytes in base64 or hex (e.g. openssl rand -base64 32)", storeKeySize)
}

// keyFilePath is where the generated store key of a SQLite database lives.
func keyFilePath(dbPath string) string { return dbPath + ".key" }

// loadOrCreateKeyFile returns the key in path, or generates one into a new
// file of mode 0600 (created reports that). A file another process creates
// at the same moment wins: O_EXCL makes exactly one of them write it.
func loadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := parseStoreKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("store key file %s: %v", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("store key file: %w", err)
	}
	key = make([]byte, storeKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadOrCreateKeyFile(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot create the store key file: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return nil, false, fmt.Errorf("cannot write the store key file %s: %w", path, err)
	}
	return key, true, nil
}
