package main

import (
	"context"
	"sync"

	"github.com/ory/fosite"
	"github.com/ory/fosite/storage"
)

// fositeStore is fosite's MemoryStore made safe for concurrent refreshes.
// As shipped (v0.49.0), RevokeRefreshToken writes RefreshTokens while
// holding a different mutex than GetRefreshTokenSession reads it under,
// and CreateRefreshTokenSession writes RefreshTokenRequestIDs that
// RevokeRefreshToken reads under yet another: 16 concurrent refresh loops
// crash with "concurrent map read and map write". One RWMutex over the
// token maps fixes it: writes exclusive, reads shared. Reads of the same
// token maps still run in parallel, as fosite intends.
type fositeStore struct {
	*storage.MemoryStore
	mu sync.RWMutex
}

func (s *fositeStore) CreateAccessTokenSession(ctx context.Context, sig string, req fosite.Requester) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemoryStore.CreateAccessTokenSession(ctx, sig, req)
}

func (s *fositeStore) GetAccessTokenSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.MemoryStore.GetAccessTokenSession(ctx, sig, sess)
}

func (s *fositeStore) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemoryStore.DeleteAccessTokenSession(ctx, sig)
}

func (s *fositeStore) CreateRefreshTokenSession(ctx context.Context, sig, accessSig string, req fosite.Requester) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemoryStore.CreateRefreshTokenSession(ctx, sig, accessSig, req)
}

func (s *fositeStore) GetRefreshTokenSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.MemoryStore.GetRefreshTokenSession(ctx, sig, sess)
}

func (s *fositeStore) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemoryStore.DeleteRefreshTokenSession(ctx, sig)
}

func (s *fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemoryStore.RevokeRefreshToken(ctx, requestID)
}

func (s *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemoryStore.RevokeAccessToken(ctx, requestID)
}

func (s *fositeStore) RotateRefreshToken(ctx context.Context, requestID, refreshSig string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemoryStore.RotateRefreshToken(ctx, requestID, refreshSig)
}
