package grantex_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mcpauth/mcpauth/grantex"
	"github.com/mcpauth/mcpauth/grantex/grantextest"
)

func TestDelegate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	child, err := f.c.Delegate(ctx, grantex.DelegateParams{ParentGrantToken: f.tok.GrantToken, SubAgentID: grantextest.DefaultAgentID, Scopes: []string{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	if child.GrantToken == "" || child.GrantID == "" || child.GrantID == f.tok.GrantID {
		t.Fatalf("Delegate = %+v", child)
	}
	tests := []struct {
		name   string
		p      grantex.DelegateParams
		status int
		code   string
	}{
		{"scope not in the parent", grantex.DelegateParams{ParentGrantToken: f.tok.GrantToken, SubAgentID: grantextest.DefaultAgentID, Scopes: []string{"w"}}, 400, "BAD_REQUEST"},
		{"unknown sub-agent", grantex.DelegateParams{ParentGrantToken: f.tok.GrantToken, SubAgentID: "ag_nobody", Scopes: []string{"r"}}, 404, "NOT_FOUND"},
	}
	for _, tc := range tests {
		var ae *grantex.APIError
		if _, err := f.c.Delegate(ctx, tc.p); !errors.As(err, &ae) || ae.StatusCode != tc.status || ae.Code != tc.code {
			t.Errorf("%s: %v, want %d %s", tc.name, err, tc.status, tc.code)
		}
	}
	// Depth: the fake's default cap is 3.
	tok := child.GrantToken
	for range 2 {
		c, err := f.c.Delegate(ctx, grantex.DelegateParams{ParentGrantToken: tok, SubAgentID: grantextest.DefaultAgentID, Scopes: []string{"r"}})
		if err != nil {
			t.Fatal(err)
		}
		tok = c.GrantToken
	}
	var ae *grantex.APIError
	if _, err := f.c.Delegate(ctx, grantex.DelegateParams{ParentGrantToken: tok, SubAgentID: grantextest.DefaultAgentID, Scopes: []string{"r"}}); !errors.As(err, &ae) || ae.Code != "DELEGATION_DEPTH_EXCEEDED" {
		t.Errorf("beyond the depth cap: %v", err)
	}
	if _, err := f.c.Delegate(ctx, grantex.DelegateParams{}); !errors.Is(err, grantex.ErrInvalidArgument) {
		t.Errorf("empty params: %v", err)
	}
}

func TestBudget(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, err := f.c.AllocateBudget(ctx, f.tok.GrantID, "10")
	if err != nil {
		t.Fatal(err)
	}
	if a.InitialBudget != "10.0000" || a.RemainingBudget != "10.0000" || a.GrantID != f.tok.GrantID {
		t.Errorf("AllocateBudget = %+v", a)
	}
	var ae *grantex.APIError
	if _, err := f.c.AllocateBudget(ctx, f.tok.GrantID, "1"); !errors.As(err, &ae) || ae.Code != "CONFLICT" {
		t.Errorf("second allocation: %v", err)
	}
	d, err := f.c.DebitBudget(ctx, f.tok.GrantID, "2.5", "tool add")
	if err != nil || d.Remaining != "7.5000" || d.TransactionID == "" {
		t.Fatalf("DebitBudget = %+v, %v", d, err)
	}
	if _, err := f.c.DebitBudget(ctx, f.tok.GrantID, "8", ""); !errors.As(err, &ae) || ae.StatusCode != http.StatusPaymentRequired || ae.Code != "INSUFFICIENT_BUDGET" {
		t.Errorf("overdraft: %v", err)
	}
	// 64 concurrent debits of 0.5 against 7.5 remaining: exactly 15 pass.
	var (
		wg  sync.WaitGroup
		won atomic.Int64
	)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.c.DebitBudget(ctx, f.tok.GrantID, "0.5", ""); err == nil {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	b, err := f.c.BudgetBalance(ctx, f.tok.GrantID)
	if err != nil || b.RemainingBudget != "0.0000" || won.Load() != 15 {
		t.Errorf("after 64 debits: %+v %v, %d won", b, err, won.Load())
	}
	if _, err := f.c.BudgetBalance(ctx, "grnt_unknown"); !errors.As(err, &ae) || ae.StatusCode != 404 {
		t.Errorf("balance of an unknown grant: %v", err)
	}
	for _, bad := range []string{"", "-1", "1.23456", "abc"} {
		if _, err := f.c.DebitBudget(ctx, f.tok.GrantID, bad, ""); !errors.Is(err, grantex.ErrInvalidArgument) {
			t.Errorf("amount %q: %v", bad, err)
		}
	}
}
