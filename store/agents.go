package store

// This file defines the store role of agent delegation (RFC 8693 token
// exchange): grants that are children of other grants, and the revocation
// of a grant together with its whole subtree.

import (
	"context"
	"errors"
	"time"
)

// DelegationStore is the delegation role of a [GrantStore]: a delegated
// grant is the child of the grant it was exchanged from (RFC 8693 §2,
// Grantex SPEC §9), and revoking a grant revokes its descendants.
type DelegationStore interface {
	// CreateDelegatedGrant atomically creates g as a child of parentID,
	// provided the parent exists, has not expired and is not revoked;
	// otherwise it returns ErrNotFound and creates nothing. A grant whose
	// ID exists gives ErrConflict. It is atomic with RevokeGrantTree: once
	// a revocation of an ancestor has returned, no child is created under
	// it, and a child created before is revoked by it.
	CreateDelegatedGrant(ctx context.Context, parentID string, g *GrantRecord) error
	// RevokeGrantTree marks the grant and every grant delegated from it,
	// transitively, revoked at `at` (keeping earlier revocation times), in
	// one transaction, and returns the IDs of the subtree (id first), so
	// the caller can tell token caches. Unknown grants are not an error.
	RevokeGrantTree(ctx context.Context, id string, at time.Time) ([]string, error)
}

// ErrInsufficientBudget: a debit larger than the remaining budget
// (Grantex 402 INSUFFICIENT_BUDGET). Nothing was debited.
var ErrInsufficientBudget = errors.New("mcpauth: insufficient budget")

// Budget is a grant's spending allowance, in the host's smallest unit
// (cents, credits, tokens): integers, so debits are exact.
type Budget struct {
	// GrantID is the grant the budget was allocated to.
	GrantID   string `json:"grant_id"`
	Initial   int64  `json:"initial"`
	Remaining int64  `json:"remaining"`
}

// BudgetStore is the budget role of a [GrantStore] (Grantex budgets): one
// allocation per grant, debited atomically. A grant delegated from another
// spends the budget of its nearest ancestor (itself first) that has one, so
// a sub-agent spends what its user allowed the agent.
type BudgetStore interface {
	// AllocateBudget gives a live grant a budget of amount (> 0):
	// ErrNotFound for an unknown, expired or revoked grant, ErrConflict
	// if it has one already.
	AllocateBudget(ctx context.Context, grantID string, amount int64) error
	// DebitBudget atomically takes amount (> 0) from the budget the grant
	// spends and returns it after the debit: of concurrent debits, none
	// takes the remaining amount below zero. ErrInsufficientBudget when
	// less than amount remains, ErrNotFound when the grant is not live or
	// has no budget.
	DebitBudget(ctx context.Context, grantID string, amount int64) (Budget, error)
	// GetBudget returns the budget the grant spends, or ErrNotFound.
	GetBudget(ctx context.Context, grantID string) (Budget, error)
}

// AssertionStore is the replay cache of client assertions (RFC 7523 §3
// item 7: a jti is used once): shared by all replicas, so an assertion
// accepted by one is refused by every other until it expires.
type AssertionStore interface {
	// UseAssertion records key (the client and the assertion's jti) as used
	// until `until`. ErrConflict if it was recorded before and has not
	// expired: of concurrent callers, exactly one succeeds.
	UseAssertion(ctx context.Context, key string, until time.Time) error
}
