package store

// This file implements the in-memory stores (the defaults, and tests).

import (
	"context"
	"slices"
	"sync"
	"time"
)

// memGrantStore is a GrantStore in process memory: the default, and the
// reference for the store conformance suite (store/storetest). One mutex
// makes every single-use operation atomic.
type memGrantStore struct {
	now func() time.Time

	// mu is a RWMutex so the lookups of every request (GetRefresh,
	// LookupRefresh, IsRevoked, …) run in parallel; only writes exclude.
	mu      sync.RWMutex
	codes   map[string]*memCode
	grants  map[string]*GrantRecord
	refresh map[string]*memRefresh
	denied  map[string]time.Time
	pending map[string]*PendingAuthorization
	// children lists the grants delegated from each grant (DelegationStore).
	children map[string][]string
	// parent and budgets: BudgetStore.
	parent  map[string]string
	budgets map[string]*Budget
	// assertions: AssertionStore, key → expiry.
	assertions map[string]time.Time
	// pendingOrder lists pending digests oldest first, for TrimPending;
	// consumed ones stay until they reach the front or the list is compacted.
	pendingOrder []string

	feed memFeed // memory_feed.go
}

type memCode struct {
	rec      CodeRecord
	consumed bool
}

type memRefresh struct {
	rec       RefreshRecord
	rotated   bool
	rotatedAt time.Time
	successor string // digest it was rotated to; "" when killed
	retried   bool   // a retry closed its window
}

// NewMemoryGrantStore returns an empty in-memory grant store. now may be nil
// (time.Now).
func NewMemoryGrantStore(now func() time.Time) GrantStore {
	if now == nil {
		now = time.Now
	}
	return &memGrantStore{
		now:     now,
		codes:   make(map[string]*memCode),
		grants:  make(map[string]*GrantRecord),
		refresh: make(map[string]*memRefresh),
		denied:  make(map[string]time.Time),
		pending: make(map[string]*PendingAuthorization),
	}
}

func cloneStrings(s []string) []string { return slices.Clone(s) }

// The clone helpers copy a record with its slices, so neither the caller
// nor the store can change the other's copy through shared backing arrays.

func cloneCode(r *CodeRecord) *CodeRecord {
	c := *r
	c.Scopes, c.Upstream = cloneStrings(r.Scopes), slices.Clone(r.Upstream)
	return &c
}

func cloneGrant(g *GrantRecord) *GrantRecord {
	c := *g
	c.Scopes = cloneStrings(g.Scopes)
	return &c
}

func cloneRefresh(r *RefreshRecord) *RefreshRecord {
	c := *r
	c.Scopes, c.Upstream = cloneStrings(r.Scopes), slices.Clone(r.Upstream)
	return &c
}

func clonePending(p *PendingAuthorization) *PendingAuthorization {
	c := *p
	c.Scopes, c.Upstream = cloneStrings(p.Scopes), slices.Clone(p.Upstream)
	return &c
}

// Clone returns a copy of the client that shares no slices with it.
func (cl *Client) Clone() *Client {
	c := *cl
	c.SecretDigest = slices.Clone(cl.SecretDigest)
	c.ClientMetadata = cl.ClientMetadata.Clone()
	c.RegistrationTokenDigest = slices.Clone(cl.RegistrationTokenDigest)
	return &c
}

// SaveCode implements GrantStore.
func (s *memGrantStore) SaveCode(_ context.Context, digest string, rec *CodeRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.codes[digest]; ok {
		return ErrConflict
	}
	s.codes[digest] = &memCode{rec: *cloneCode(rec)}
	return nil
}

// ConsumeCode implements GrantStore.
func (s *memGrantStore) ConsumeCode(_ context.Context, digest string) (*CodeRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[digest]
	if !ok || !s.now().Before(c.rec.ExpiresAt) {
		return nil, ErrNotFound
	}
	rec := cloneCode(&c.rec)
	if c.consumed {
		return rec, ErrCodeReplayed
	}
	c.consumed = true
	return rec, nil
}

// GetCode implements GrantStore.
func (s *memGrantStore) GetCode(_ context.Context, digest string) (*CodeRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.codes[digest]
	if !ok || !s.now().Before(c.rec.ExpiresAt) {
		return nil, ErrNotFound
	}
	if c.consumed {
		return cloneCode(&c.rec), ErrCodeReplayed
	}
	return cloneCode(&c.rec), nil
}

// RedeemCode implements GrantStore. Every check comes before the first
// change, so a failure leaves the store as it was.
func (s *memGrantStore) RedeemCode(_ context.Context, digest string, r *Redemption) (*CodeRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[digest]
	if !ok || !s.now().Before(c.rec.ExpiresAt) {
		return nil, ErrNotFound
	}
	rec := cloneCode(&c.rec)
	if c.consumed {
		return rec, ErrCodeReplayed
	}
	if r.Refresh != nil {
		if _, taken := s.refresh[r.RefreshDigest]; taken {
			return nil, ErrConflict
		}
	}
	c.consumed = true
	for _, g := range r.Grants {
		if _, ok := s.grants[g.ID]; !ok {
			s.grants[g.ID] = cloneGrant(g)
		}
	}
	if r.Refresh != nil {
		s.refresh[r.RefreshDigest] = &memRefresh{rec: *cloneRefresh(r.Refresh)}
	}
	return rec, nil
}

// CreateGrant implements GrantStore.
func (s *memGrantStore) CreateGrant(_ context.Context, g *GrantRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.grants[g.ID]; ok {
		return ErrConflict
	}
	s.grants[g.ID] = cloneGrant(g)
	return nil
}

// GetGrant implements GrantStore.
func (s *memGrantStore) GetGrant(_ context.Context, id string) (*GrantRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g, ok := s.grants[id]
	if !ok || !s.now().Before(g.ExpiresAt) {
		return nil, ErrNotFound
	}
	return cloneGrant(g), nil
}

// RevokeGrant implements GrantStore.
func (s *memGrantStore) RevokeGrant(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.grants[id]; ok && g.RevokedAt.IsZero() {
		g.RevokedAt = at
	}
	return nil
}

func (s *memGrantStore) grantLive(id string) bool {
	g, ok := s.grants[id]
	return ok && g.RevokedAt.IsZero() && s.now().Before(g.ExpiresAt)
}

// SaveRefresh implements GrantStore.
func (s *memGrantStore) SaveRefresh(_ context.Context, digest string, rec *RefreshRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.refresh[digest]; ok {
		return ErrConflict
	}
	s.refresh[digest] = &memRefresh{rec: *cloneRefresh(rec)}
	return nil
}

// RotateRefresh implements GrantStore.
func (s *memGrantStore) RotateRefresh(_ context.Context, oldDigest, newDigest string, next *RefreshRecord, retryWindow time.Duration) (*RefreshRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r, ok := s.refresh[oldDigest]
	if !ok || !now.Before(r.rec.ExpiresAt) || !s.grantLive(r.rec.GrantID) {
		return nil, ErrNotFound
	}
	old := cloneRefresh(&r.rec)
	var succ *memRefresh
	if r.rotated {
		succ = s.refresh[r.successor]
		retry := retryWindow > 0 && !r.retried && now.Before(r.rotatedAt.Add(retryWindow)) && next.ClientID == r.rec.ClientID &&
			r.successor != "" && succ != nil && !succ.rotated && now.Before(succ.rec.ExpiresAt)
		if !retry {
			return old, ErrRefreshReused
		}
	}
	if _, taken := s.refresh[newDigest]; taken {
		return nil, ErrConflict
	}
	if succ != nil { // a retry: the successor never reached the client
		succ.rotated, succ.rotatedAt, succ.successor = true, now, ""
		r.retried = true
		if jti := succ.rec.AccessTokenID; jti != "" {
			if cur, ok := s.denied[jti]; !ok || succ.rec.AccessExpiresAt.After(cur) {
				s.denied[jti] = succ.rec.AccessExpiresAt
			}
		}
	} else {
		r.rotated, r.rotatedAt = true, now
	}
	r.successor = newDigest
	s.refresh[newDigest] = &memRefresh{rec: *cloneRefresh(next)}
	return old, nil
}

// GetRefresh implements GrantStore.
func (s *memGrantStore) GetRefresh(_ context.Context, digest string) (*RefreshRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.refresh[digest]
	if !ok || r.rotated || !s.now().Before(r.rec.ExpiresAt) || !s.grantLive(r.rec.GrantID) {
		return nil, ErrNotFound
	}
	return cloneRefresh(&r.rec), nil
}

// LookupRefresh implements GrantStore.
func (s *memGrantStore) LookupRefresh(_ context.Context, digest string) (*RefreshRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.refresh[digest]
	if !ok || !s.now().Before(r.rec.ExpiresAt) || !s.grantLive(r.rec.GrantID) {
		return nil, ErrNotFound
	}
	if r.rotated {
		return cloneRefresh(&r.rec), ErrRefreshReused
	}
	return cloneRefresh(&r.rec), nil
}

// DenyToken implements GrantStore.
func (s *memGrantStore) DenyToken(_ context.Context, jti string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.denied[jti]; !ok || until.After(cur) {
		s.denied[jti] = until
	}
	return nil
}

// IsRevoked implements GrantStore.
func (s *memGrantStore) IsRevoked(_ context.Context, jti, grantID string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.denied[jti]; ok && jti != "" {
		return true, nil
	}
	if g, ok := s.grants[grantID]; ok && !g.RevokedAt.IsZero() {
		return true, nil
	}
	return false, nil
}

// SavePending implements GrantStore.
func (s *memGrantStore) SavePending(_ context.Context, digest string, p *PendingAuthorization) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pending[digest]; ok {
		return ErrConflict
	}
	s.pending[digest] = clonePending(p)
	s.pendingOrder = append(s.pendingOrder, digest)
	s.compactPendingOrder()
	return nil
}

// TrimPending implements GrantStore: the oldest go first.
func (s *memGrantStore) TrimPending(_ context.Context, keep int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for len(s.pending) > keep && len(s.pendingOrder) > 0 {
		d := s.pendingOrder[0]
		s.pendingOrder = s.pendingOrder[1:]
		if _, ok := s.pending[d]; ok {
			delete(s.pending, d)
			n++
		}
	}
	s.compactPendingOrder()
	return n, nil
}

// compactPendingOrder drops consumed and swept digests from the order list
// once they outnumber the live ones, so it stays proportional to the map.
func (s *memGrantStore) compactPendingOrder() {
	if len(s.pendingOrder) > 2*len(s.pending)+64 {
		live := make([]string, 0, len(s.pending))
		for _, d := range s.pendingOrder {
			if _, ok := s.pending[d]; ok {
				live = append(live, d)
			}
		}
		s.pendingOrder = live
	}
}

// GetPending implements GrantStore.
func (s *memGrantStore) GetPending(_ context.Context, digest string) (*PendingAuthorization, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.pending[digest]
	if !ok || !s.now().Before(p.ExpiresAt) {
		return nil, ErrNotFound
	}
	return clonePending(p), nil
}

// ConsumePending implements GrantStore.
func (s *memGrantStore) ConsumePending(_ context.Context, digest string) (*PendingAuthorization, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[digest]
	if !ok || !s.now().Before(p.ExpiresAt) {
		return nil, ErrNotFound
	}
	delete(s.pending, digest)
	return p, nil
}

// DeleteExpired implements GrantStore.
func (s *memGrantStore) DeleteExpired(_ context.Context, now time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	sweep(s.codes, &n, limit, func(c *memCode) time.Time { return c.rec.ExpiresAt }, now, nil)
	sweep(s.refresh, &n, limit, func(r *memRefresh) time.Time { return r.rec.ExpiresAt }, now, nil)
	sweep(s.denied, &n, limit, func(until time.Time) time.Time { return until }, now, nil)
	sweep(s.pending, &n, limit, func(p *PendingAuthorization) time.Time { return p.ExpiresAt }, now, nil)
	sweep(s.assertions, &n, limit, func(until time.Time) time.Time { return until }, now, nil)
	sweep(s.grants, &n, limit, func(g *GrantRecord) time.Time { return g.ExpiresAt }, now, func(k string) {
		delete(s.children, k)
		delete(s.parent, k)
		delete(s.budgets, k)
	})
	return n, nil
}

// sweep deletes the entries of m that end (by ends) at or before now,
// counting them in *n and stopping once *n reaches limit; also, when set,
// calls dropped with each deleted key.
func sweep[V any](m map[string]V, n *int, limit int, ends func(V) time.Time, now time.Time, dropped func(string)) {
	for k, v := range m {
		if *n >= limit {
			return
		}
		if !now.Before(ends(v)) {
			delete(m, k)
			if dropped != nil {
				dropped(k)
			}
			*n++
		}
	}
}

// memKeyStore is a KeyStore in process memory.
type memKeyStore struct {
	mu   sync.Mutex
	keys []SigningKey
}

// NewMemoryKeyStore returns an empty in-memory key store.
func NewMemoryKeyStore() KeyStore { return &memKeyStore{} }

// ListKeys implements KeyStore.
func (s *memKeyStore) ListKeys(context.Context) ([]SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.keys)
	for i := range out {
		out[i].PrivateJWK = slices.Clone(out[i].PrivateJWK)
	}
	slices.SortStableFunc(out, func(a, b SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// AddKey implements KeyStore.
func (s *memKeyStore) AddKey(_ context.Context, k SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.keys {
		if e.ID == k.ID {
			return ErrConflict
		}
	}
	k.PrivateJWK = slices.Clone(k.PrivateJWK)
	s.keys = append(s.keys, k)
	return nil
}

// RetireKey implements KeyStore.
func (s *memKeyStore) RetireKey(_ context.Context, id string, expiresAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if s.keys[i].ID == id && (s.keys[i].ExpiresAt.IsZero() || expiresAt.Before(s.keys[i].ExpiresAt)) {
			s.keys[i].ExpiresAt = expiresAt
		}
	}
	return nil
}

// DeleteKey implements KeyStore.
func (s *memKeyStore) DeleteKey(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = slices.DeleteFunc(s.keys, func(k SigningKey) bool { return k.ID == id })
	return nil
}
