package main

import (
	"fmt"
	"io"
)

// operatorSecret resolves -operator-secret and its deprecated alias
// -audit-secret (the audit stream's secret before the admin API shared it):
// either may be set, or both to the same value; the alias earns a warning.
func operatorSecret(secret, alias string, stderr io.Writer) (string, error) {
	name := "-operator-secret"
	switch {
	case alias == "":
	case secret == "":
		secret, name = alias, "-audit-secret"
	case secret != alias:
		return "", usagef("-operator-secret and its deprecated alias -audit-secret differ: set only -operator-secret")
	}
	if alias != "" {
		fmt.Fprintln(stderr, "mcp-auth-server: -audit-secret (MCPAUTH_AUDIT_SECRET) is deprecated: use -operator-secret (MCPAUTH_OPERATOR_SECRET)")
	}
	if len(secret) > 0 && len(secret) < 16 {
		return "", usagef("%s: use at least 16 characters", name)
	}
	return secret, nil
}
