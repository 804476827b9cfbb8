package grantex

// This file is the agent part of the Grantex API: delegation (SPEC §9,
// POST /v1/grants/delegate) and budgets (/v1/budget/*).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"
)

// DelegateParams is the body of POST /v1/grants/delegate.
type DelegateParams struct {
	ParentGrantToken string   `json:"parentGrantToken"`
	SubAgentID       string   `json:"subAgentId"`
	Scopes           []string `json:"scopes"`
	ExpiresIn        string   `json:"expiresIn,omitempty"`
}

// Delegate creates a child grant of the parent grant token for a
// sub-agent: POST /v1/grants/delegate → 201 with the child's grant token
// (and a refresh token). Errors: 400 for a bad parent or a scope not in the
// parent's, 403 DELEGATION_DEPTH_EXCEEDED, 404 for an unknown sub-agent.
// It creates a grant, so it is re-sent only when it provably did not
// arrive (as Authorize).
func (c *Client) Delegate(ctx context.Context, p DelegateParams) (*Token, error) {
	if p.ParentGrantToken == "" || p.SubAgentID == "" || len(p.Scopes) == 0 {
		return nil, fmt.Errorf("%w: delegation needs a parent token, a sub-agent and scopes", ErrInvalidArgument)
	}
	var out Token
	if err := c.call(ctx, "Delegate", http.MethodPost, "/v1/grants/delegate", retryCreate, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Amount is a budget amount as Grantex sends it: NUMERIC(18,4) as a JSON
// string ("100.0000"); a JSON number is accepted too.
type Amount string

// UnmarshalJSON accepts a string or a number.
func (a *Amount) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = Amount(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("grantex: amount %s: %w", b, err)
	}
	*a = Amount(n)
	return nil
}

var amountRE = regexp.MustCompile(`^[0-9]{1,14}(\.[0-9]{1,4})?$`)

// BudgetAllocation is a grant's budget (POST /v1/budget/allocate, GET
// /v1/budget/balance/:grantId).
type BudgetAllocation struct {
	ID              string    `json:"id"`
	GrantID         string    `json:"grantId"`
	DeveloperID     string    `json:"developerId"`
	InitialBudget   Amount    `json:"initialBudget"`
	RemainingBudget Amount    `json:"remainingBudget"`
	Currency        string    `json:"currency"`
	CreatedAt       time.Time `json:"createdAt"`
	UpdatedAt       time.Time `json:"updatedAt"`
}

// BudgetDebit is the 200 answer of POST /v1/budget/debit.
type BudgetDebit struct {
	Remaining     Amount `json:"remaining"`
	TransactionID string `json:"transactionId"`
	GrantID       string `json:"grantId"`
}

// AllocateBudget gives a grant its budget: POST /v1/budget/allocate →
// 201. amount is a positive decimal with at most 4 places. Errors: 404
// unknown grant, 409 GRANT_INACTIVE or CONFLICT (already allocated).
func (c *Client) AllocateBudget(ctx context.Context, grantID, amount string) (*BudgetAllocation, error) {
	if grantID == "" || !amountRE.MatchString(amount) {
		return nil, fmt.Errorf("%w: a grant id and a positive decimal amount are required", ErrInvalidArgument)
	}
	body := struct {
		GrantID       string      `json:"grantId"`
		InitialBudget json.Number `json:"initialBudget"`
	}{grantID, json.Number(amount)}
	var out BudgetAllocation
	if err := c.call(ctx, "AllocateBudget", http.MethodPost, "/v1/budget/allocate", retryCreate, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DebitBudget takes amount from the grant's budget, atomically at Grantex:
// POST /v1/budget/debit → 200. 402 INSUFFICIENT_BUDGET when less remains.
// A debit is not idempotent, so it is re-sent only when it provably did
// not arrive.
func (c *Client) DebitBudget(ctx context.Context, grantID, amount, description string) (*BudgetDebit, error) {
	if grantID == "" || !amountRE.MatchString(amount) {
		return nil, fmt.Errorf("%w: a grant id and a positive decimal amount are required", ErrInvalidArgument)
	}
	body := struct {
		GrantID     string      `json:"grantId"`
		Amount      json.Number `json:"amount"`
		Description string      `json:"description,omitempty"`
	}{grantID, json.Number(amount), description}
	var out BudgetDebit
	if err := c.call(ctx, "DebitBudget", http.MethodPost, "/v1/budget/debit", retrySingleUse, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// BudgetBalance reads a grant's budget: GET /v1/budget/balance/:grantId
// (404 when it has none).
func (c *Client) BudgetBalance(ctx context.Context, grantID string) (*BudgetAllocation, error) {
	if grantID == "" {
		return nil, fmt.Errorf("%w: empty grant id", ErrInvalidArgument)
	}
	var out BudgetAllocation
	if err := c.call(ctx, "BudgetBalance", http.MethodGet, "/v1/budget/balance/"+url.PathEscape(grantID), retryIdempotent, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
