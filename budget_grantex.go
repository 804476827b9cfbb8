package mcpauth

// This file keeps budgets at Grantex in managed mode (/v1/budget/*):
// amounts travel as decimal strings; the Server's budget
// methods use whole units.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/mcpauth/mcpauth/grantex"
	"github.com/mcpauth/mcpauth/store"
)

// grantexBudgeter is the part of the Grantex API budgets need;
// *grantex.Client has it.
type grantexBudgeter interface {
	AllocateBudget(ctx context.Context, grantID, amount string) (*grantex.BudgetAllocation, error)
	DebitBudget(ctx context.Context, grantID, amount, description string) (*grantex.BudgetDebit, error)
	BudgetBalance(ctx context.Context, grantID string) (*grantex.BudgetAllocation, error)
}

// budgetStore is where budgets live: Grantex in managed mode (when the
// client can), the GrantStore otherwise.
func (s *Server) budgetStore() store.BudgetStore {
	if s.cfg.Grantex.Client != nil {
		if b, ok := s.cfg.Grantex.Client.(grantexBudgeter); ok {
			return grantexBudgets{b}
		}
	}
	return s.grants
}

// grantexBudgets adapts Grantex's budget API to BudgetStore. Grantex
// keeps one budget per grant: a delegated grant does not spend its
// parent's there.
type grantexBudgets struct{ gx grantexBudgeter }

func (g grantexBudgets) AllocateBudget(ctx context.Context, grantID string, amount int64) error {
	_, err := g.gx.AllocateBudget(ctx, grantID, strconv.FormatInt(amount, 10))
	return budgetErr(err)
}

func (g grantexBudgets) DebitBudget(ctx context.Context, grantID string, amount int64) (store.Budget, error) {
	_, err := g.gx.DebitBudget(ctx, grantID, strconv.FormatInt(amount, 10), "")
	if err != nil {
		if err = budgetErr(err); errors.Is(err, store.ErrInsufficientBudget) {
			b, _ := g.GetBudget(ctx, grantID)
			return b, err
		}
		return store.Budget{}, err
	}
	// The debit's answer has no initial amount, which the events need.
	return g.GetBudget(ctx, grantID)
}

func (g grantexBudgets) GetBudget(ctx context.Context, grantID string) (store.Budget, error) {
	a, err := g.gx.BudgetBalance(ctx, grantID)
	if err != nil {
		return store.Budget{}, budgetErr(err)
	}
	initial, err1 := wholeUnits(a.InitialBudget)
	remaining, err2 := wholeUnits(a.RemainingBudget)
	if err := errors.Join(err1, err2); err != nil {
		return store.Budget{}, fmt.Errorf("mcpauth: Grantex budget of %s: %w", grantID, err)
	}
	return store.Budget{GrantID: grantID, Initial: initial, Remaining: remaining}, nil
}

// wholeUnits reads a Grantex amount ("7.5000"), rounding down.
func wholeUnits(a grantex.Amount) (int64, error) {
	whole, _, _ := strings.Cut(string(a), ".")
	return strconv.ParseInt(whole, 10, 64)
}

// budgetErr maps Grantex's budget errors to the store errors.
func budgetErr(err error) error {
	var ae *grantex.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae) && ae.StatusCode == http.StatusPaymentRequired:
		return fmt.Errorf("%w: %w", store.ErrInsufficientBudget, err)
	case errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound, errors.As(err, &ae) && ae.Code == "GRANT_INACTIVE":
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	case errors.As(err, &ae) && ae.Code == "CONFLICT":
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return fmt.Errorf("%w: Grantex budget: %w", ErrUnavailable, err)
}
