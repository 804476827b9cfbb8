package mcpauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// jwksMaxAge is the Cache-Control max-age of our JWKS. A new key is published
// this long (plus the replica refresh interval) before it signs, so every
// verifier that honours the header sees it first.
const jwksMaxAge = 5 * time.Minute

// generateSigningKey makes a fresh private key for alg, with kid = RFC 7638
// thumbprint of its public half.
func generateSigningKey(alg string, now time.Time) (SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return SigningKey{}, fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return SigningKey{}, err
	}
	jwk := jose.JSONWebKey{Key: priv, Algorithm: alg, Use: "sig"}
	pub := jwk.Public()
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return SigningKey{}, err
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	raw, err := jwk.MarshalJSON()
	if err != nil {
		return SigningKey{}, err
	}
	return SigningKey{ID: jwk.KeyID, Algorithm: alg, PrivateJWK: raw, CreatedAt: now, SignFrom: now}, nil
}

// loadedKey is a parsed SigningKey.
type loadedKey struct {
	SigningKey
	private jose.JSONWebKey
	public  jose.JSONWebKey
	signer  jose.Signer
	// sessionKey signs browser session cookies and CSRF tokens; it is derived
	// from the private key so replicas share it without another secret.
	sessionKey []byte
}

func parseSigningKey(k SigningKey) (*loadedKey, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(k.PrivateJWK); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	if jwk.IsPublic() {
		return nil, fmt.Errorf("signing key %s: not a private key", k.ID)
	}
	jwk.KeyID, jwk.Algorithm, jwk.Use = k.ID, k.Algorithm, "sig"
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: jwk},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	mac := hmac.New(sha256.New, []byte("mcpauth session key v1"))
	mac.Write(k.PrivateJWK)
	return &loadedKey{SigningKey: k, private: jwk, public: jwk.Public(), signer: signer, sessionKey: mac.Sum(nil)}, nil
}

// keyManager keeps the signing keys of the key store in memory, rotates them,
// and re-reads the store often enough that a rotation on one replica reaches
// the others within refreshEvery.
type keyManager struct {
	store        KeyStore
	alg          string
	rotateEvery  time.Duration // <0: never
	refreshEvery time.Duration
	tokenTTL     time.Duration
	now          func() time.Time
	log          *slog.Logger

	mu       sync.RWMutex
	loadedAt time.Time
	keys     []*loadedKey // newest first, expired ones dropped
	byID     map[string]*loadedKey
	jwks     []byte

	reload sync.Mutex // one store read at a time
}

var errNoSigningKey = errors.New("no usable signing key")

// current returns the key set, re-reading the store when it is stale.
func (m *keyManager) current(ctx context.Context) ([]*loadedKey, error) {
	m.mu.RLock()
	keys, at := m.keys, m.loadedAt
	m.mu.RUnlock()
	if keys != nil && m.now().Sub(at) < m.refreshEvery {
		return keys, nil
	}
	return m.reloadIfOlder(ctx, m.refreshEvery)
}

// reloadIfOlder re-reads the store when the cached set is older than maxAge
// (once, however many callers ask) and rotates when the active key is due.
func (m *keyManager) reloadIfOlder(ctx context.Context, maxAge time.Duration) ([]*loadedKey, error) {
	m.reload.Lock()
	defer m.reload.Unlock()
	m.mu.RLock()
	keys, at := m.keys, m.loadedAt
	m.mu.RUnlock()
	if keys != nil && m.now().Sub(at) < maxAge {
		return keys, nil
	}

	stored, err := m.store.ListKeys(ctx)
	if err != nil {
		return m.stale(err)
	}
	now := m.now()
	if m.rotationDue(stored, now) {
		if err := m.rotate(ctx, stored, now); err != nil {
			return m.stale(err)
		}
		if stored, err = m.store.ListKeys(ctx); err != nil {
			return m.stale(err)
		}
	}
	keys = nil
	byID := make(map[string]*loadedKey)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range stored {
		if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
			if err := m.store.DeleteKey(ctx, k.ID); err != nil {
				m.log.Warn("mcpauth: deleting expired signing key", "kid", k.ID, "err", err)
			}
			continue
		}
		lk, err := parseSigningKey(k)
		if err != nil {
			m.log.Error("mcpauth: skipping unreadable signing key", "kid", k.ID, "err", err)
			continue
		}
		keys = append(keys, lk)
		byID[k.ID] = lk
		set.Keys = append(set.Keys, lk.public)
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.keys, m.byID, m.jwks, m.loadedAt = keys, byID, doc, now
	m.mu.Unlock()
	return keys, nil
}

// stale keeps serving the last good keys when the store fails.
func (m *keyManager) stale(err error) ([]*loadedKey, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.keys != nil {
		m.log.Warn("mcpauth: key store unavailable; using cached keys", "err", err)
		return m.keys, nil
	}
	return nil, fmt.Errorf("loading signing keys: %w", err)
}

// rotationDue: no key of our algorithm that signs now or will soon.
func (m *keyManager) rotationDue(stored []SigningKey, now time.Time) bool {
	for _, k := range stored {
		if k.Algorithm != m.alg || (!k.ExpiresAt.IsZero()) {
			continue
		}
		if m.rotateEvery < 0 || now.Before(k.SignFrom.Add(m.rotateEvery)) {
			return false
		}
	}
	return true
}

// rotate publishes a new key that starts signing only after every replica
// and every JWKS cache has had time to see it, and retires the others once
// the last token they signed has expired.
func (m *keyManager) rotate(ctx context.Context, stored []SigningKey, now time.Time) error {
	k, err := generateSigningKey(m.alg, now)
	if err != nil {
		return err
	}
	first := true
	for _, o := range stored {
		if o.ExpiresAt.IsZero() || now.Before(o.ExpiresAt) {
			first = false
		}
	}
	if !first {
		k.SignFrom = now.Add(m.refreshEvery + jwksMaxAge)
	}
	if err := m.store.AddKey(ctx, k); err != nil {
		return err
	}
	retireAt := k.SignFrom.Add(m.tokenTTL + m.refreshEvery)
	for _, o := range stored {
		if o.ExpiresAt.IsZero() {
			if err := m.store.RetireKey(ctx, o.ID, retireAt); err != nil {
				return err
			}
		}
	}
	m.log.Info("mcpauth: signing key rotated", "kid", k.ID, "alg", k.Algorithm, "signs_from", k.SignFrom)
	return nil
}

// signingKey returns the newest key that may sign now.
func (m *keyManager) signingKey(ctx context.Context) (*loadedKey, error) {
	keys, err := m.current(ctx)
	if err != nil {
		return nil, err
	}
	now := m.now()
	var best *loadedKey
	for _, k := range keys {
		if k.Algorithm != m.alg || now.Before(k.SignFrom) {
			continue
		}
		if best == nil || k.SignFrom.After(best.SignFrom) {
			best = k
		}
	}
	if best == nil {
		// Every key of ours is retired or still being published: fall back to
		// the newest key already published, rather than fail.
		for _, k := range keys {
			if !now.Before(k.SignFrom) {
				return k, nil
			}
		}
		return nil, errNoSigningKey
	}
	return best, nil
}

// publicKey finds a verification key by kid. An unknown kid re-reads the
// store at most once per refreshEvery/10, so a flood of bogus kids is cheap.
func (m *keyManager) publicKey(ctx context.Context, kid string) (*loadedKey, error) {
	if _, err := m.current(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	k, ok := m.byID[kid]
	at := m.loadedAt
	m.mu.RUnlock()
	if ok {
		return k, nil
	}
	if m.now().Sub(at) >= m.refreshEvery/10 {
		if _, err := m.reloadIfOlder(ctx, m.refreshEvery/10); err != nil {
			return nil, err
		}
		m.mu.RLock()
		k, ok = m.byID[kid]
		m.mu.RUnlock()
		if ok {
			return k, nil
		}
	}
	return nil, fmt.Errorf("unknown key id %q", kid)
}

// jwksDocument returns the public keys as an RFC 7517 JWK Set.
func (m *keyManager) jwksDocument(ctx context.Context) ([]byte, error) {
	if _, err := m.current(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.jwks, nil
}

// sessionKeys returns the cookie keys, the signing one first.
func (m *keyManager) sessionKeys(ctx context.Context) ([][]byte, error) {
	active, err := m.signingKey(ctx)
	if err != nil {
		return nil, err
	}
	keys, _ := m.current(ctx)
	out := [][]byte{active.sessionKey}
	for _, k := range keys {
		if k != active {
			out = append(out, k.sessionKey)
		}
	}
	return out, nil
}

// RotateSigningKey publishes a new signing key now (it signs after the
// publication delay) and retires the current ones once their tokens expire.
func (s *Server) RotateSigningKey(ctx context.Context) error {
	stored, err := s.keys.store.ListKeys(ctx)
	if err != nil {
		return err
	}
	s.keys.reload.Lock()
	err = s.keys.rotate(ctx, stored, s.now())
	s.keys.reload.Unlock()
	if err != nil {
		return err
	}
	_, err = s.keys.reloadIfOlder(ctx, 0)
	return err
}
