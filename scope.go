package mcpauth

// This file implements scope parameters (RFC 6749 §3.3).

import (
	"slices"
	"strings"
)

// scopeOfflineAccess asks for a refresh token.
const scopeOfflineAccess = "offline_access"

// parseScope splits a scope parameter, dropping repeated spaces and duplicates.
func parseScope(s string) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// isSubset reports whether every element of a is in b.
func isSubset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
