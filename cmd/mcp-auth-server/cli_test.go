package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

const cliSecret = "cli-operator-secret-0123456789"

// mcpStatus calls the demo MCP server with token and returns the status.
func mcpStatus(t *testing.T, iss, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, iss+"/mcp", strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCLIRevokesGrantAtOnce runs the clients and grants commands in process
// against a started server: a grant revoked with `grants revoke` stops its
// access token at /mcp on the very next request.
func TestCLIRevokesGrantAtOnce(t *testing.T) {
	s := startRun(t, "-store", "memory:", "-rate-limit", "off", "-operator-secret", cliSecret,
		"-user", "alice:alice-password-1", "-user", "bob:bob-password-12", "-operator", "alice")
	env := map[string]string{"MCPAUTH_OPERATOR_SECRET": cliSecret}
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return runExit(t, append(args, "-server", s.issuer), env)
	}
	bob := authorizeAs(t, s.issuer, "bob", "bob-password-12", "tools:read", s.issuer+"/mcp")
	access, _ := bob.token["access_token"].(string)
	if got := mcpStatus(t, s.issuer, access); got != http.StatusOK {
		t.Fatalf("before revocation /mcp answers %d", got)
	}

	code, out, errOut := cli("grants", "list", "-subject", "bob", "-json")
	if code != 0 {
		t.Fatalf("grants list: exit %d: %s", code, errOut)
	}
	var grants []struct {
		ID       string `json:"id"`
		Subject  string `json:"sub"`
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(out), &grants); err != nil || len(grants) != 1 || grants[0].Subject != "bob" {
		t.Fatalf("grants list -json: %v %q", err, out)
	}
	if code, out, _ := cli("grants", "list", "-client", grants[0].ClientID); code != 0 || !strings.Contains(out, grants[0].ID) || !strings.HasPrefix(out, "GRANT_ID") {
		t.Errorf("grants list -client: exit %d, %q", code, out)
	}

	if code, out, errOut := cli("grants", "revoke", grants[0].ID); code != 0 || !strings.Contains(out, "revoked grant "+grants[0].ID) {
		t.Fatalf("grants revoke: exit %d, %q %q", code, out, errOut)
	}
	if got := mcpStatus(t, s.issuer, access); got != http.StatusUnauthorized {
		t.Errorf("after `grants revoke` /mcp answers %d, want 401", got)
	}

	// clients: create (the secret printed once), list, delete.
	code, out, errOut = cli("clients", "create", "-redirect-uri", "https://app.example.com/cb", "-name", "Made by CLI")
	if code != 0 || !strings.Contains(out, "client_secret: ") {
		t.Fatalf("clients create: exit %d, %q %q", code, out, errOut)
	}
	id := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "client_id:"))
	secret := strings.Fields(out[strings.Index(out, "client_secret: "):])[1]
	if code, out, _ := cli("clients", "list"); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "Made by CLI") || strings.Contains(out, secret) {
		t.Errorf("clients list: exit %d, %q", code, out)
	}
	if code, out, _ := cli("clients", "delete", id); code != 0 || !strings.Contains(out, "deleted client "+id) {
		t.Errorf("clients delete: exit %d, %q", code, out)
	}
	if code, _, errOut := cli("clients", "delete", id); code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("deleting a deleted client: exit %d, %q", code, errOut)
	}

	// Errors: clear, one line, with the documented exit status.
	cases := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"no secret", []string{"clients", "list", "-server", s.issuer}, nil, 2, "MCPAUTH_OPERATOR_SECRET"},
		{"wrong secret", []string{"clients", "list", "-server", s.issuer}, map[string]string{"MCPAUTH_OPERATOR_SECRET": cliSecret + "x"}, 1, "401"},
		{"unreachable", []string{"grants", "list", "-server", "http://127.0.0.1:1"}, env, 1, "cannot reach"},
		{"bad server", []string{"grants", "list", "-server", "ftp://x"}, env, 2, "-server"},
		{"unknown verb", []string{"clients", "frob", "-server", s.issuer}, env, 2, "unknown command"},
		{"no id", []string{"grants", "revoke", "-server", s.issuer}, env, 2, "GRANT_ID"},
		{"no redirect", []string{"clients", "create", "-server", s.issuer}, env, 2, "-redirect-uri"},
		{"bad flag", []string{"grants", "list", "-frob", "-server", s.issuer}, env, 2, "frob"},
		{"unknown grant", []string{"grants", "revoke", "nope", "-server", s.issuer}, env, 1, "not_found"},
	}
	for _, c := range cases {
		code, _, errOut := runExit(t, c.args, c.env)
		if code != c.code || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") > 1 && c.code != 2 {
			t.Errorf("%s: exit %d, stderr %q; want %d mentioning %q", c.name, code, errOut, c.code, c.want)
		}
	}
}

// TestAdminScopeOnlyForOperators: the admin scope is granted to -operator
// accounts only, and opens the admin API.
func TestAdminScopeOnlyForOperators(t *testing.T) {
	s := startRun(t, "-store", "memory:", "-rate-limit", "off",
		"-user", "alice:alice-password-1", "-user", "bob:bob-password-12", "-operator", "alice")
	get := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, s.issuer+"/admin/clients", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	alice := authorizeAs(t, s.issuer, "alice", "alice-password-1", "tools:read admin", s.issuer)
	if sc, _ := alice.token["scope"].(string); !strings.Contains(sc, "admin") {
		t.Fatalf("the operator was not granted admin: %v", alice.token)
	}
	if got := get(alice.token["access_token"].(string)); got != http.StatusOK {
		t.Errorf("operator's admin token: %d", got)
	}
	bob := authorizeAs(t, s.issuer, "bob", "bob-password-12", "tools:read admin", s.issuer)
	if sc, _ := bob.token["scope"].(string); strings.Contains(sc, "admin") {
		t.Fatalf("a non-operator was granted admin: %v", bob.token)
	}
	if got := get(bob.token["access_token"].(string)); got != http.StatusForbidden {
		t.Errorf("non-operator's token at the admin API: %d, want 403", got)
	}
	if got := get(""); got != http.StatusUnauthorized {
		t.Errorf("no credentials: %d", got)
	}
}

func TestOperatorSecretFlags(t *testing.T) {
	cases := []struct {
		args    []string
		env     map[string]string
		secret  string
		wantErr string
	}{
		{[]string{"-operator-secret", "0123456789abcdef"}, nil, "0123456789abcdef", ""},
		{[]string{"-audit-secret", "0123456789abcdef"}, nil, "0123456789abcdef", ""},
		{nil, map[string]string{"MCPAUTH_OPERATOR_SECRET": "0123456789abcdef"}, "0123456789abcdef", ""},
		{[]string{"-operator-secret", "0123456789abcdef", "-audit-secret", "0123456789abcdef"}, nil, "0123456789abcdef", ""},
		{[]string{"-operator-secret", "0123456789abcdef", "-audit-secret", "fedcba9876543210"}, nil, "", "differ"},
		{[]string{"-operator-secret", "short"}, nil, "", "-operator-secret: use at least 16"},
		{[]string{"-audit-secret", "short"}, nil, "", "-audit-secret: use at least 16"},
	}
	for _, c := range cases {
		var stderr strings.Builder
		o, err := parseFlags(append([]string{"-store", "memory:"}, c.args...), envMap(c.env), &stderr)
		switch {
		case c.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: err %v, want %q", c.args, err, c.wantErr)
			}
		case err != nil:
			t.Errorf("%v: %v", c.args, err)
		case o.auditSecret != c.secret:
			t.Errorf("%v: secret %q", c.args, o.auditSecret)
		case slices.Contains(c.args, "-audit-secret") != strings.Contains(stderr.String(), "-audit-secret (MCPAUTH_AUDIT_SECRET) is deprecated"):
			t.Errorf("%v: deprecation warning %q", c.args, stderr.String())
		}
	}
}
