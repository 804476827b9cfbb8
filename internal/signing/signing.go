// Package signing keeps the authorization server's keys: the signing keys
// of access tokens (generation, rotation shared by replicas through the key
// store, publication as an RFC 7517 JWK Set with RFC 7638 key ids) and the
// random session keys of login cookies and CSRF tokens kept beside them.
package signing

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/mcpauth/mcpauth/internal/jwks"
	"github.com/mcpauth/mcpauth/store"
)

// Key is a key as the key store keeps it: a private signing key, or (with
// Algorithm [SessionKeyAlg]) a random session key.
type Key = store.SigningKey

// Store keeps the keys shared by all replicas.
type Store = store.KeyStore

// Options configure a [Manager].
type Options struct {
	Store Store
	// Alg is the signing algorithm of new keys: ES256, EdDSA or RS256.
	Alg string
	// RotateEvery is the key lifetime before rotation; negative: never.
	RotateEvery time.Duration
	// RefreshEvery bounds how stale the in-memory keys may be.
	RefreshEvery time.Duration
	// TokenTTL is the access token lifetime (a retired key stays published
	// that long), SessionTTL the login cookie's.
	TokenTTL, SessionTTL time.Duration
	Now                  func() time.Time
	Log                  *slog.Logger
}

// New returns a Manager; it reads the store on first use.
func New(o Options) *Manager {
	return &Manager{store: o.Store, alg: o.Alg, rotateEvery: o.RotateEvery, refreshEvery: o.RefreshEvery,
		tokenTTL: o.TokenTTL, sessionTTL: o.SessionTTL, now: o.Now, log: o.Log}
}

// Rotate publishes a new signing key now (it signs after the publication
// delay) and retires the current ones once their tokens expire; it rotates
// the session key likewise.
func (m *Manager) Rotate(ctx context.Context) error {
	stored, err := m.store.ListKeys(ctx)
	if err != nil {
		return err
	}
	signing, sessions := splitKeys(stored)
	m.reload.Lock()
	err = m.rotate(ctx, signing, m.now())
	if err == nil {
		err = m.rotateSession(ctx, sessions, m.now())
	}
	m.reload.Unlock()
	if err != nil {
		return err
	}
	_, err = m.reloadIfOlder(ctx, 0)
	return err
}

// JWKSMaxAge is the Cache-Control max-age of our JWKS. A new key is published
// this long (plus the replica refresh interval) before it signs, so every
// verifier that honours the header sees it first.
const JWKSMaxAge = 5 * time.Minute

// generateSigningKey makes a fresh private key for alg, with kid = RFC 7638
// thumbprint of its public half.
func generateSigningKey(alg string, now time.Time) (Key, error) {
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
		return Key{}, fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return Key{}, err
	}
	jwk := jose.JSONWebKey{Key: priv, Algorithm: alg, Use: "sig"}
	pub := jwk.Public()
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return Key{}, err
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	raw, err := jwk.MarshalJSON()
	if err != nil {
		return Key{}, err
	}
	return Key{ID: jwk.KeyID, Algorithm: alg, PrivateJWK: raw, CreatedAt: now, SignFrom: now}, nil
}

// Loaded is a parsed signing Key.
type Loaded struct {
	Key
	// Signer signs JWTs (typ at+jwt) with the key.
	Signer  jose.Signer
	private jose.JSONWebKey
	public  jose.JSONWebKey
	verify  jwks.Key // public as the verification core takes it
}

// SessionKeyAlg marks the KeyStore entries that hold session keys rather
// than signing keys: random HMAC-SHA256 keys for the login cookie and CSRF
// tokens, kept beside the signing keys so that every replica shares them
// and SQL stores encrypt them at rest alike. They are never derived from a
// signing key, never published and never sign a token.
const SessionKeyAlg = "mcpauth-session"

// sessionKey is a parsed session-key entry.
type sessionKey struct {
	id       string
	key      []byte
	signFrom time.Time
}

// generateSessionKey makes a random session key entry (an RFC 7518 §6.4
// "oct" JWK) that starts signing at signFrom.
func generateSessionKey(now, signFrom time.Time) (Key, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return Key{}, err
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return Key{}, err
	}
	raw, err := json.Marshal(map[string]string{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(k)})
	if err != nil {
		return Key{}, err
	}
	return Key{ID: "session-" + base64.RawURLEncoding.EncodeToString(id), Algorithm: SessionKeyAlg,
		PrivateJWK: raw, CreatedAt: now, SignFrom: signFrom}, nil
}

func parseSessionKey(k Key) (sessionKey, error) {
	var jwk struct {
		Kty string `json:"kty"`
		K   string `json:"k"`
	}
	if err := json.Unmarshal(k.PrivateJWK, &jwk); err != nil {
		return sessionKey{}, fmt.Errorf("session key %s: %w", k.ID, err)
	}
	key, err := base64.RawURLEncoding.DecodeString(jwk.K)
	if err != nil || jwk.Kty != "oct" || len(key) < 32 {
		return sessionKey{}, fmt.Errorf("session key %s: not a 256-bit oct key", k.ID)
	}
	return sessionKey{id: k.ID, key: key, signFrom: k.SignFrom}, nil
}

func parseSigningKey(k Key) (*Loaded, error) {
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
	pub := jwk.Public()
	return &Loaded{Key: k, private: jwk, public: pub, Signer: signer,
		verify: jwks.Key{ID: k.ID, Algorithm: k.Algorithm, Public: pub.Key}}, nil
}

// Manager keeps the keys of the key store in memory, rotates them, and
// re-reads the store often enough that a rotation on one replica reaches the
// others within RefreshEvery. Make one with [New].
type Manager struct {
	store        Store
	alg          string
	rotateEvery  time.Duration // <0: never
	refreshEvery time.Duration
	tokenTTL     time.Duration
	sessionTTL   time.Duration // how long a login cookie lasts
	now          func() time.Time
	log          *slog.Logger

	mu       sync.RWMutex
	loadedAt time.Time
	keys     []*Loaded // newest first, expired ones dropped
	byID     map[string]*Loaded
	jwks     []byte
	sessions []sessionKey // live session keys

	reload sync.Mutex // one store read at a time
}

var errNoSigningKey = errors.New("no usable signing key")

// Current returns the key set, re-reading the store when it is stale.
func (m *Manager) Current(ctx context.Context) ([]*Loaded, error) {
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
func (m *Manager) reloadIfOlder(ctx context.Context, maxAge time.Duration) ([]*Loaded, error) {
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
	signing, sessions := splitKeys(stored)
	rotated := false
	if m.rotationDue(signing, now) {
		if err := m.rotate(ctx, signing, now); err != nil {
			return m.stale(err)
		}
		rotated = true
	}
	if m.sessionRotationDue(sessions, now) {
		if err := m.rotateSession(ctx, sessions, now); err != nil {
			return m.stale(err)
		}
		rotated = true
	}
	if rotated {
		if stored, err = m.store.ListKeys(ctx); err != nil {
			return m.stale(err)
		}
	}
	keys = nil
	var live []sessionKey
	byID := make(map[string]*Loaded)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range stored {
		if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
			if err := m.store.DeleteKey(ctx, k.ID); err != nil {
				m.log.Warn("mcpauth: deleting expired signing key", "kid", k.ID, "err", err)
			}
			continue
		}
		if k.Algorithm == SessionKeyAlg {
			sk, err := parseSessionKey(k)
			if err != nil {
				m.log.Error("mcpauth: skipping unreadable session key", "id", k.ID, "err", err)
				continue
			}
			live = append(live, sk)
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
	m.keys, m.byID, m.jwks, m.sessions, m.loadedAt = keys, byID, doc, live, now
	m.mu.Unlock()
	return keys, nil
}

// splitKeys separates the KeyStore's signing keys from its session keys.
func splitKeys(stored []Key) (signing, sessions []Key) {
	for _, k := range stored {
		if k.Algorithm == SessionKeyAlg {
			sessions = append(sessions, k)
		} else {
			signing = append(signing, k)
		}
	}
	return signing, sessions
}

// sessionRotationDue: no unretired session key, or the newest has signed
// for the rotation period (the signing keys' KeyRotationPeriod).
func (m *Manager) sessionRotationDue(sessions []Key, now time.Time) bool {
	for _, k := range sessions {
		if k.ExpiresAt.IsZero() && (m.rotateEvery < 0 || now.Before(k.SignFrom.Add(m.rotateEvery))) {
			return false
		}
	}
	return true
}

// rotateSession adds a new session key and retires the others once every
// cookie and form they signed has expired. Like a signing key, the new key
// signs only after every replica has had time to load it (unless it is the
// first), so no replica meets a cookie it cannot check.
func (m *Manager) rotateSession(ctx context.Context, sessions []Key, now time.Time) error {
	signFrom := now
	for _, o := range sessions {
		if o.ExpiresAt.IsZero() || now.Before(o.ExpiresAt) {
			signFrom = now.Add(m.refreshEvery)
		}
	}
	k, err := generateSessionKey(now, signFrom)
	if err != nil {
		return err
	}
	if err := m.store.AddKey(ctx, k); err != nil {
		return err
	}
	retireAt := signFrom.Add(m.sessionTTL + m.refreshEvery)
	for _, o := range sessions {
		if o.ExpiresAt.IsZero() {
			if err := m.store.RetireKey(ctx, o.ID, retireAt); err != nil {
				return err
			}
		}
	}
	m.log.Info("mcpauth: session key rotated", "id", k.ID, "signs_from", signFrom)
	return nil
}

// stale keeps serving the last good keys when the store fails.
func (m *Manager) stale(err error) ([]*Loaded, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.keys != nil {
		m.log.Warn("mcpauth: key store unavailable; using cached keys", "err", err)
		return m.keys, nil
	}
	return nil, fmt.Errorf("loading signing keys: %w", err)
}

// rotationDue: no key of our algorithm that signs now or will soon.
func (m *Manager) rotationDue(stored []Key, now time.Time) bool {
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
func (m *Manager) rotate(ctx context.Context, stored []Key, now time.Time) error {
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
		k.SignFrom = now.Add(m.refreshEvery + JWKSMaxAge)
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

// Signer returns the newest key that may sign now.
func (m *Manager) Signer(ctx context.Context) (*Loaded, error) {
	keys, err := m.Current(ctx)
	if err != nil {
		return nil, err
	}
	now := m.now()
	var best *Loaded
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

// Candidates yields the keys that may have signed a token whose header
// names kid, as [jwks.Set.Candidates] does for a remote set, so our own tokens
// go through the same verification core: the key named by kid (exact), or
// else every published key. An unknown kid re-reads the store at most once
// per refreshEvery/10, so a flood of bogus kids is cheap.
func (m *Manager) Candidates(ctx context.Context, kid string) ([]jwks.Key, bool, error) {
	if _, err := m.Current(ctx); err != nil {
		return nil, false, err
	}
	m.mu.RLock()
	k, ok := m.byID[kid]
	at := m.loadedAt
	m.mu.RUnlock()
	if !ok && m.now().Sub(at) >= m.refreshEvery/10 {
		if _, err := m.reloadIfOlder(ctx, m.refreshEvery/10); err != nil {
			return nil, false, err
		}
		m.mu.RLock()
		k, ok = m.byID[kid]
		m.mu.RUnlock()
	}
	if ok {
		return []jwks.Key{k.verify}, true, nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	all := make([]jwks.Key, 0, len(m.keys))
	for _, k := range m.keys {
		all = append(all, k.verify)
	}
	return all, false, nil
}

// JWKS returns the public keys as an RFC 7517 JWK Set.
func (m *Manager) JWKS(ctx context.Context) ([]byte, error) {
	if _, err := m.Current(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.jwks, nil
}

var errNoSessionKey = errors.New("no usable session key")

// SessionKeys returns the keys of session cookies and CSRF tokens: first the
// one that signs now (the newest whose SignFrom has passed), then every other
// live one, which still verify (the previous key during the overlap, the
// next one before it signs).
func (m *Manager) SessionKeys(ctx context.Context) ([][]byte, error) {
	if _, err := m.Current(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	sessions := m.sessions
	m.mu.RUnlock()
	now := m.now()
	active := -1
	for i, k := range sessions {
		if now.Before(k.signFrom) {
			continue
		}
		if a := active; a < 0 || k.signFrom.After(sessions[a].signFrom) ||
			k.signFrom.Equal(sessions[a].signFrom) && k.id > sessions[a].id { // replicas agree on ties
			active = i
		}
	}
	if active < 0 {
		return nil, errNoSessionKey
	}
	out := [][]byte{sessions[active].key}
	for i, k := range sessions {
		if i != active {
			out = append(out, k.key)
		}
	}
	return out, nil
}
