package sdkauth

// This file implements per-tool costs: a tools/call first debits the
// tool's cost from the budget of the caller's grant (mcpauth budgets), and
// an insufficient budget is a tool error; the tool does not run.

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcpauth/mcpauth/store"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Debiter debits grant budgets; *mcpauth.Server is one.
type Debiter interface {
	DebitBudget(ctx context.Context, grantID string, amount int64) (store.Budget, error)
}

// ToolCosts returns receiving middleware for an [mcp.Server]
// (Server.AddReceivingMiddleware) that charges each tools/call of a tool
// named in costs to the budget of the caller's grant (its own, or the one
// it was delegated from) before the tool runs. When the budget cannot pay,
// the call returns a tool error (isError, naming the cost and what
// remains) and the tool never runs. A grant without a budget is not
// metered. A debit is not refunded when the tool then fails. The grant is
// the one [RequireMCPAuth] (or [TokenVerifier]) verified on this request.
func ToolCosts(d Debiter, costs map[string]int64) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			call, ok := req.(*mcp.CallToolRequest)
			if method != "tools/call" || !ok || call.Params == nil {
				return next(ctx, method, req)
			}
			cost := costs[call.Params.Name]
			if cost <= 0 {
				return next(ctx, method, req)
			}
			g, ok := GrantFromRequest(req)
			if !ok {
				return toolError("tool %q costs %d and this call carries no verified grant", call.Params.Name, cost), nil
			}
			b, err := d.DebitBudget(ctx, g.GrantID, cost)
			switch {
			case err == nil, errors.Is(err, store.ErrNotFound):
				return next(ctx, method, req)
			case errors.Is(err, store.ErrInsufficientBudget):
				return toolError("insufficient budget: tool %q costs %d and %d of %d remain", call.Params.Name, cost, b.Remaining, b.Initial), nil
			default:
				return nil, fmt.Errorf("budget unavailable: tool %q was not run", call.Params.Name)
			}
		}
	}
}

func toolError(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}
