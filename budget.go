package mcpauth

// This file implements grant budgets (Grantex budgets): the host
// allocates a budget to a grant and debits it as the agent spends; grants
// delegated from it spend the same budget. The remaining amount is the bdg
// claim at issuance and grantex_budget_remaining in introspection.

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcpauth/mcpauth/store"
)

// BudgetEvent is what Hooks.OnBudget receives.
type BudgetEvent struct {
	// Type is EventBudgetThreshold or EventBudgetExhausted.
	Type EventType
	// GrantID is the grant whose debit crossed the threshold; the budget
	// itself may belong to an ancestor (Budget.GrantID).
	GrantID string
	Budget  store.Budget
	// UsedPercent is the threshold crossed: 50, 80 or 100.
	UsedPercent int
}

// budgetThresholds are the used percentages that raise events (Grantex
// budget.threshold at 50% and 80%, budget.exhausted at 100%).
var budgetThresholds = []int{50, 80, 100}

// AllocateBudget gives a live grant a budget of amount (> 0) in the host's
// smallest unit. Errors: ErrNotFound (unknown, expired or revoked grant),
// ErrConflict (it has a budget already).
func (s *Server) AllocateBudget(ctx context.Context, grantID string, amount int64) error {
	if amount <= 0 {
		return fmt.Errorf("mcpauth: budget amount %d: must be positive", amount)
	}
	return s.budgetStore().AllocateBudget(ctx, grantID, amount)
}

// In managed mode (a Grantex client with the budget API) budgets are kept
// at Grantex, one per grant (the grant ids are Grantex's).
//
// DebitBudget atomically takes amount (> 0) from the budget grantID spends
// (its own, or its nearest ancestor's) and returns what remains; across
// replicas no budget is ever overspent. Errors: ErrInsufficientBudget
// (nothing debited; the Budget is returned with it), ErrNotFound (no live
// grant or no budget). Crossing 50% or 80% used, and exhaustion, raise
// events on Hooks.OnBudget and the audit stream.
func (s *Server) DebitBudget(ctx context.Context, grantID string, amount int64) (store.Budget, error) {
	if amount <= 0 {
		return store.Budget{}, fmt.Errorf("mcpauth: debit amount %d: must be positive", amount)
	}
	b, err := s.budgetStore().DebitBudget(ctx, grantID, amount)
	if err != nil {
		return b, err
	}
	before := b.Initial - b.Remaining - amount // used before this debit
	for _, pct := range budgetThresholds {
		limit := (b.Initial*int64(pct) + 99) / 100 // rounded up: never early
		if before < limit && b.Initial-b.Remaining >= limit {
			s.budgetEvent(ctx, grantID, b, pct)
		}
	}
	return b, nil
}

// Budget returns the budget grantID spends, or ErrNotFound.
func (s *Server) Budget(ctx context.Context, grantID string) (store.Budget, error) {
	return s.budgetStore().GetBudget(ctx, grantID)
}

func (s *Server) budgetEvent(ctx context.Context, grantID string, b store.Budget, pct int) {
	typ := EventBudgetThreshold
	if pct == 100 {
		typ = EventBudgetExhausted
	}
	ev := Event{Type: typ, GrantID: grantID, Budget: &b}
	// The grant's user and client, so the audit stream shows the event to
	// that user (a lookup only when a threshold is crossed).
	if g, err := s.grants.GetGrant(ctx, grantID); err == nil {
		ev.Subject, ev.ClientID = g.Subject, g.ClientID
	}
	s.emit(ctx, ev)
	if h := s.cfg.Hooks.OnBudget; h != nil {
		e := BudgetEvent{Type: typ, GrantID: grantID, Budget: b, UsedPercent: pct}
		s.runHook(ctx, "OnBudget", func() error { return h(ctx, e) })
	}
}

// allocateDefaultBudget gives a grant just consented to Config.DefaultBudget.
func (s *Server) allocateDefaultBudget(ctx context.Context, grantID string) error {
	if s.cfg.DefaultBudget <= 0 {
		return nil
	}
	if err := s.grants.AllocateBudget(ctx, grantID, s.cfg.DefaultBudget); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}

// budgetClaim is the bdg claim of a token for grantID: the remaining
// budget, or nil when the grant has none.
func (s *Server) budgetClaim(ctx context.Context, grantID string) (*int64, error) {
	if grantID == "" {
		return nil, nil
	}
	b, err := s.grants.GetBudget(ctx, grantID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &b.Remaining, nil
}

// liveBudget puts the budget remaining now into an introspection answer of
// the local authority (the bdg claim is as of issuance).
func (s *Server) liveBudget(ctx context.Context, resp *introspection) error {
	if s.cfg.Grantex.Client != nil || resp.GrantID == "" {
		return nil
	}
	b, err := s.grants.GetBudget(ctx, resp.GrantID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	resp.Budget = b.Remaining
	return nil
}
