package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authstore "github.com/mcpauth/mcpauth/store"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestMaxDelegationDepthFlag(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want int // -2: a usage error
	}{
		{nil, nil, 3},
		{[]string{"-max-delegation-depth", "10"}, nil, 10},
		{nil, map[string]string{"MCPAUTH_MAX_DELEGATION_DEPTH": "1"}, 1},
		{[]string{"-max-delegation-depth", "0"}, nil, -1},
		{[]string{"-max-delegation-depth", "11"}, nil, -2},
		{[]string{"-max-delegation-depth", "-1"}, nil, -2},
		{[]string{"-default-budget", "-5"}, nil, -2},
	}
	for _, tc := range tests {
		o, err := parseFlags(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		var ue *usageError
		switch {
		case tc.want == -2 && !errors.As(err, &ue):
			t.Errorf("%v %v: err %v, want a usage error", tc.args, tc.env, err)
		case tc.want != -2 && err != nil:
			t.Errorf("%v %v: %v", tc.args, tc.env, err)
		case tc.want != -2 && o.maxDelegationDepth != tc.want:
			t.Errorf("%v %v: maxDelegationDepth %d, want %d", tc.args, tc.env, o.maxDelegationDepth, tc.want)
		}
	}
}

// TestDemoAddCostsBudget: with -default-budget 2 the demo's add (cost 1)
// runs twice; the third call is a tool error naming the budget.
func TestDemoAddCostsBudget(t *testing.T) {
	s := startRun(t, "-store", "memory:", "-user", "alice:alice-password", "-default-budget", "2")
	iss := s.issuer
	tok := authorizeAs(t, iss, "alice", "alice-password", "tools:read tools:execute", iss+"/mcp").token["access_token"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "budget-test", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: iss + "/mcp", HTTPClient: &http.Client{Transport: bearer{tok}}, MaxRetries: -1, DisableStandaloneSSE: true,
	}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	for i, wantErr := range []bool{false, false, true} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "add", Arguments: map[string]any{"a": 2, "b": 40}})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		text := ""
		if len(res.Content) > 0 {
			if tc, ok := res.Content[0].(*mcp.TextContent); ok {
				text = tc.Text
			}
		}
		if res.IsError != wantErr || wantErr && !strings.Contains(text, "insufficient budget") {
			t.Errorf("call %d: isError %v %q", i, res.IsError, text)
		}
	}
}

func TestClientFlag(t *testing.T) {
	o, err := parseFlags([]string{"-client", "bot:bot-secret-0123456789:tools:read,tools:execute", "-client", "b2:another-secret-0123456:tools:read"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var bot *authstore.Client
	for i := range o.staticClients {
		if o.staticClients[i].ID == "bot" {
			bot = &o.staticClients[i]
		}
	}
	if bot == nil || bot.ClientSecret != "bot-secret-0123456789" || bot.Scope != "tools:read tools:execute" || bot.GrantTypes[0] != "client_credentials" {
		t.Fatalf("bot = %+v", bot)
	}
	env := map[string]string{"MCPAUTH_CLIENT": "e1:env-secret-0123456789:tools:read e2:env-secret-9876543210:tools:read"}
	if o, err := parseFlags(nil, func(k string) string { return env[k] }, io.Discard); err != nil || len(o.staticClients) != 2 {
		t.Errorf("from the environment: %v %+v", err, o)
	}
	for _, bad := range []string{"bot", "bot:secret-only-0123456789", ":s-0123456789abcdef:x", "bot::x", "bot:short:x", "bot:bot-secret-0123456789:"} {
		var ue *usageError
		if _, err := parseFlags([]string{"-client", bad}, func(string) string { return "" }, io.Discard); !errors.As(err, &ue) {
			t.Errorf("-client %q: %v, want a usage error", bad, err)
		}
	}
}

// The standalone server issues client_credentials tokens to -client.
func TestStandaloneClientCredentials(t *testing.T) {
	s := startRun(t, "-store", "memory:", "-user", "alice:alice-password", "-client", "bot:bot-secret-0123456789:tools:read")
	req, _ := http.NewRequest(http.MethodPost, s.issuer+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("bot", "bot-secret-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK || m["scope"] != "tools:read" {
		t.Errorf("client_credentials: %d %v %v", resp.StatusCode, m, err)
	}
}
