package mcpauth_test

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store"
)

func TestBudgetEventsAndClaims(t *testing.T) {
	var (
		mu     sync.Mutex
		hooks  []mcpauth.BudgetEvent
		events []mcpauth.Event
	)
	e := newEnv(t, func(c *mcpauth.Config) {
		c.Hooks.OnBudget = func(_ context.Context, ev mcpauth.BudgetEvent) error {
			mu.Lock()
			hooks = append(hooks, ev)
			mu.Unlock()
			return nil
		}
		c.Hooks.OnEvent = func(_ context.Context, ev mcpauth.Event) {
			if ev.Budget != nil {
				mu.Lock()
				events = append(events, ev)
				mu.Unlock()
			}
		}
	})
	tok := e.tokens("pub", nil)["access_token"].(string)
	_, c := jwtParts(t, tok)
	gid := c["grnt"].(string)
	if _, ok := c["bdg"]; ok {
		t.Error("bdg claim on a grant without a budget")
	}
	ctx := t.Context()
	if err := e.srv.AllocateBudget(ctx, gid, 0); err == nil {
		t.Error("a zero budget was accepted")
	}
	if err := e.srv.AllocateBudget(ctx, "grnt_unknown", 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AllocateBudget(unknown) = %v", err)
	}
	if err := e.srv.AllocateBudget(ctx, gid, 10); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.AllocateBudget(ctx, gid, 10); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second AllocateBudget = %v", err)
	}
	// Debits 4, 4, 1, 1: 40% (nothing), 80% (50 and 80 crossed at once), 90%, 100%.
	for _, amount := range []int64{4, 4, 1, 1} {
		if _, err := e.srv.DebitBudget(ctx, gid, amount); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := e.srv.DebitBudget(ctx, gid, 1); !errors.Is(err, store.ErrInsufficientBudget) || b.Remaining != 0 {
		t.Errorf("debit of an exhausted budget = %+v, %v", b, err)
	}
	mu.Lock()
	var got []int
	for _, h := range hooks {
		got = append(got, h.UsedPercent)
	}
	if len(got) != 3 || got[0] != 50 || got[1] != 80 || got[2] != 100 || hooks[2].Type != mcpauth.EventBudgetExhausted || hooks[0].Type != mcpauth.EventBudgetThreshold {
		t.Errorf("budget hooks = %+v", hooks)
	}
	if len(events) != 3 || events[2].Type != mcpauth.EventBudgetExhausted || events[0].GrantID != gid || events[0].Subject != c["sub"] || events[0].ClientID != "pub" {
		t.Errorf("budget audit events = %+v", events)
	}
	mu.Unlock()

	// Introspection reports the budget now; a new token carries it in bdg.
	if in := e.introspect(tok); in["grantex_budget_remaining"] != float64(0) {
		t.Errorf("grantex_budget_remaining = %v, want 0", in["grantex_budget_remaining"])
	}
	other := e.tokens("pub", nil)["access_token"].(string)
	_, oc := jwtParts(t, other)
	if err := e.srv.AllocateBudget(ctx, oc["grnt"].(string), 7); err != nil {
		t.Fatal(err)
	}
	// A delegated token of that grant carries its budget at issuance.
	dt := e.delegated("pub", other, nil)["access_token"].(string)
	if _, dc := jwtParts(t, dt); num(dc["bdg"]) != 7 {
		t.Errorf("delegated bdg = %v, want 7", dc["bdg"])
	}
	if in := e.introspect(dt); in["grantex_budget_remaining"] != float64(7) {
		t.Errorf("delegated grantex_budget_remaining = %v", in["grantex_budget_remaining"])
	}
}

// Config.DefaultBudget is allocated at consent.
func TestDefaultBudgetAtConsent(t *testing.T) {
	e := newEnv(t, func(c *mcpauth.Config) { c.DefaultBudget = 25 })
	tok := e.tokens("pub", url.Values{"scope": {"read"}})["access_token"].(string)
	_, c := jwtParts(t, tok)
	if num(c["bdg"]) != 25 {
		t.Errorf("bdg = %v, want 25", c["bdg"])
	}
	if b, err := e.srv.Budget(t.Context(), c["grnt"].(string)); err != nil || b.Initial != 25 {
		t.Errorf("Budget = %+v, %v", b, err)
	}
}
