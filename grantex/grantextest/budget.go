package grantextest

// This file fakes the Grantex budget API (apps/auth-service/src/routes/
// budget.ts): one allocation per grant, NUMERIC(18,4) amounts sent back as
// strings, atomic debits.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// budget is an allocation; amounts in 1/10000 units.
type budget struct {
	id, grantID, developerID string
	initial, remaining       int64
	currency                 string
	createdAt, updatedAt     time.Time
}

// parseAmount reads a positive JSON number with at most 4 decimals.
func parseAmount(n json.Number) (int64, bool) {
	s := n.String()
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 4 || whole == "" || strings.HasPrefix(whole, "-") {
		return 0, false
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 1e13 {
		return 0, false
	}
	frac += strings.Repeat("0", 4-len(frac))
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, false
	}
	v := w*10000 + f
	return v, v > 0
}

func formatAmount(v int64) string { return fmt.Sprintf("%d.%04d", v/10000, v%10000) }

func (b *budget) json() map[string]any {
	return map[string]any{"id": b.id, "grantId": b.grantID, "developerId": b.developerID,
		"initialBudget": formatAmount(b.initial), "remainingBudget": formatAmount(b.remaining), "currency": b.currency,
		"createdAt": isoTime(b.createdAt), "updatedAt": isoTime(b.updatedAt)}
}

// activeGrantLocked returns the developer's live grant or writes the error.
func (s *Server) activeGrantLocked(w http.ResponseWriter, dev Developer, id string) bool {
	g := s.grants[id]
	switch {
	case g == nil || g.developerID != dev.ID:
		s.writeError(w, http.StatusNotFound, "NOT_FOUND", "Grant not found")
		return false
	case g.status != "active" || !s.now().Before(g.expiresAt):
		s.writeError(w, http.StatusConflict, "GRANT_INACTIVE", "Grant is not active")
		return false
	}
	return true
}

// handleBudgetAllocate is POST /v1/budget/allocate.
func (s *Server) handleBudgetAllocate(w http.ResponseWriter, r *http.Request, dev Developer) {
	var req struct {
		GrantID       *string     `json:"grantId"`
		InitialBudget json.Number `json:"initialBudget"`
		Currency      string      `json:"currency"`
	}
	if !s.decodeJSON(w, r, &req) {
		return
	}
	amount, ok := parseAmount(req.InitialBudget)
	if req.GrantID == nil || *req.GrantID == "" || !ok {
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", "body must have grantId and initialBudget > 0")
		return
	}
	if req.Currency == "" {
		req.Currency = "USD"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.activeGrantLocked(w, dev, *req.GrantID) {
		return
	}
	if s.budgets == nil {
		s.budgets = map[string]*budget{}
	}
	if _, ok := s.budgets[*req.GrantID]; ok {
		s.writeError(w, http.StatusConflict, "CONFLICT", "Budget already allocated for this grant")
		return
	}
	now := s.now()
	b := &budget{id: "bdg_" + newULID(now), grantID: *req.GrantID, developerID: dev.ID, initial: amount, remaining: amount,
		currency: req.Currency, createdAt: now, updatedAt: now}
	s.budgets[b.grantID] = b
	writeJSON(w, http.StatusCreated, b.json())
}

// handleBudgetDebit is POST /v1/budget/debit: atomic under the lock.
func (s *Server) handleBudgetDebit(w http.ResponseWriter, r *http.Request, dev Developer) {
	var req struct {
		GrantID     *string     `json:"grantId"`
		Amount      json.Number `json:"amount"`
		Description string      `json:"description"`
	}
	if !s.decodeJSON(w, r, &req) {
		return
	}
	amount, ok := parseAmount(req.Amount)
	if req.GrantID == nil || *req.GrantID == "" || !ok {
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", "body must have grantId and amount > 0")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.budgets[*req.GrantID]
	if b == nil || b.developerID != dev.ID {
		s.writeError(w, http.StatusNotFound, "NOT_FOUND", "No budget allocation for this grant")
		return
	}
	if !s.activeGrantLocked(w, dev, *req.GrantID) {
		return
	}
	if b.remaining < amount {
		s.writeError(w, http.StatusPaymentRequired, "INSUFFICIENT_BUDGET", "Insufficient budget")
		return
	}
	b.remaining -= amount
	b.updatedAt = s.now()
	writeJSON(w, http.StatusOK, map[string]any{"remaining": formatAmount(b.remaining), "transactionId": "btx_" + newULID(b.updatedAt), "grantId": b.grantID})
}

// handleBudgetBalance is GET /v1/budget/balance/{grantId}.
func (s *Server) handleBudgetBalance(w http.ResponseWriter, r *http.Request, dev Developer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.budgets[r.PathValue("grantId")]
	if b == nil || b.developerID != dev.ID {
		s.writeError(w, http.StatusNotFound, "NOT_FOUND", "No budget allocation for this grant")
		return
	}
	writeJSON(w, http.StatusOK, b.json())
}
