package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mcpauth/mcpauth/store"
)

// budgetTests check the BudgetStore role: allocation, atomic debits, and
// delegated grants spending their ancestor's budget.
var budgetTests = []testCase{
	{"AllocateDebitGet", func(t *testing.T, e env) {
		now := e.now()
		gid := e.grant(t, now)
		_, err := e.Grants.GetBudget(e.ctx, gid)
		wantErr(t, "GetBudget(none)", err, store.ErrNotFound)
		_, err = e.Grants.DebitBudget(e.ctx, gid, 1)
		wantErr(t, "DebitBudget(none)", err, store.ErrNotFound)
		wantErr(t, "AllocateBudget", e.Grants.AllocateBudget(e.ctx, gid, 100), nil)
		wantErr(t, "AllocateBudget(again)", e.Grants.AllocateBudget(e.ctx, gid, 5), store.ErrConflict)
		wantErr(t, "AllocateBudget(unknown)", e.Grants.AllocateBudget(e.ctx, id("grant"), 5), store.ErrNotFound)
		b, err := e.Grants.DebitBudget(e.ctx, gid, 30)
		wantErr(t, "DebitBudget", err, nil)
		if b != (store.Budget{GrantID: gid, Initial: 100, Remaining: 70}) {
			t.Errorf("DebitBudget = %+v", b)
		}
		b, err = e.Grants.DebitBudget(e.ctx, gid, 71)
		wantErr(t, "DebitBudget(too much)", err, store.ErrInsufficientBudget)
		if b.Remaining != 70 {
			t.Errorf("a refused debit left %d, want 70", b.Remaining)
		}
		b, err = e.Grants.DebitBudget(e.ctx, gid, 70)
		wantErr(t, "DebitBudget(all)", err, nil)
		if b.Remaining != 0 {
			t.Errorf("remaining %d, want 0", b.Remaining)
		}
		if b, err := e.Grants.GetBudget(e.ctx, gid); err != nil || b.Remaining != 0 || b.Initial != 100 {
			t.Errorf("GetBudget = %+v, %v", b, err)
		}
		// A revoked grant spends nothing.
		other := e.grant(t, now)
		wantErr(t, "AllocateBudget", e.Grants.AllocateBudget(e.ctx, other, 10), nil)
		wantErr(t, "RevokeGrant", e.Grants.RevokeGrant(e.ctx, other, now), nil)
		_, err = e.Grants.DebitBudget(e.ctx, other, 1)
		wantErr(t, "DebitBudget(revoked)", err, store.ErrNotFound)
		wantErr(t, "AllocateBudget(revoked)", e.Grants.AllocateBudget(e.ctx, other, 10), store.ErrNotFound)
	}},
	{"DelegatedSpendsAncestor", func(t *testing.T, e env) {
		now := e.now()
		root := e.grant(t, now)
		child, grand := id("child"), id("grand")
		wantErr(t, "CreateDelegatedGrant", e.Grants.CreateDelegatedGrant(e.ctx, root, grantRecord(child, now)), nil)
		wantErr(t, "CreateDelegatedGrant", e.Grants.CreateDelegatedGrant(e.ctx, child, grantRecord(grand, now)), nil)
		wantErr(t, "AllocateBudget(root)", e.Grants.AllocateBudget(e.ctx, root, 50), nil)
		b, err := e.Grants.DebitBudget(e.ctx, grand, 20)
		wantErr(t, "DebitBudget(grandchild)", err, nil)
		if b.GrantID != root || b.Remaining != 30 {
			t.Errorf("grandchild debit = %+v, want root's budget at 30", b)
		}
		// A budget of its own comes first.
		wantErr(t, "AllocateBudget(child)", e.Grants.AllocateBudget(e.ctx, child, 5), nil)
		if b, err := e.Grants.DebitBudget(e.ctx, grand, 5); err != nil || b.GrantID != child || b.Remaining != 0 {
			t.Errorf("debit with the child's budget = %+v, %v", b, err)
		}
		if b, err := e.Grants.GetBudget(e.ctx, root); err != nil || b.Remaining != 30 {
			t.Errorf("root budget = %+v, %v", b, err)
		}
	}},
	{"ConcurrentDebitsNeverOverspend", func(t *testing.T, e env) {
		gid := e.grant(t, e.now())
		const budget, workers = 40, 64
		wantErr(t, "AllocateBudget", e.Grants.AllocateBudget(e.ctx, gid, budget), nil)
		var (
			wg        sync.WaitGroup
			won, lost atomic.Int64
		)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.Grants.DebitBudget(e.ctx, gid, 1)
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, store.ErrInsufficientBudget):
					lost.Add(1)
				default:
					t.Errorf("DebitBudget: %v", err)
				}
			}()
		}
		wg.Wait()
		b, err := e.Grants.GetBudget(e.ctx, gid)
		wantErr(t, "GetBudget", err, nil)
		if won.Load() != budget || lost.Load() != workers-budget || b.Remaining != 0 {
			t.Errorf("%d debits of 1 against %d: %d won, %d refused, %d remaining", workers, budget, won.Load(), lost.Load(), b.Remaining)
		}
	}},
}
