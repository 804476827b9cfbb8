package mcpauth_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpauth/mcpauth"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestMetadataGolden pins every field and value of the RFC 8414 document, so any change
// to what MCP clients discover is a deliberate one (go test -run Golden -update).
func TestMetadataGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  mcpauth.Config
	}{
		{"metadata-local.json", mcpauth.Config{Issuer: "https://mcp.example.com", Scopes: []string{"tools:read", "tools:execute"},
			Resources: []string{"https://mcp.example.com/mcp"}, Users: goldenUsers(t)}},
		{"metadata-tenant.json", mcpauth.Config{Issuer: "https://example.com/tenant1", Scopes: []string{"notes:read"},
			Users: goldenUsers(t), DisableRegistration: true, AllowAnonymousIntrospection: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := mcpauth.NewServer(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			rec := httptest.NewRecorder()
			path := "/.well-known/oauth-authorization-server"
			if tc.name == "metadata-tenant.json" {
				path += "/tenant1"
			}
			srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			var doc map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(doc, "", "  ")
			got = append(got, '\n')
			file := filepath.Join("testdata", tc.name)
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("metadata changed; if deliberate, run go test -run Golden -update\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func goldenUsers(t *testing.T) []mcpauth.PasswordUser {
	h, err := mcpauth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	return []mcpauth.PasswordUser{{Username: "u", PasswordHash: h}}
}
