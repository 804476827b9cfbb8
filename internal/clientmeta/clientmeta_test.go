package clientmeta

import (
	"errors"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/store"
)

// TestCheckDescription: one set of rules for registrations and documents;
// they differ only where the sources do (a document must name itself, a
// registration may use http URLs on loopback).
func TestCheckDescription(t *testing.T) {
	ok := store.ClientMetadata{Name: "App", ClientURI: "https://app.example", Contacts: []string{"a@example.com"}}
	tests := []struct {
		name       string
		edit       func(*store.ClientMetadata)
		reg, doc   bool // accepted as a registration, as a document
		wantInText string
	}{
		{"valid", func(*store.ClientMetadata) {}, true, true, ""},
		{"no name", func(m *store.ClientMetadata) { m.Name = "" }, true, false, "client_name"},
		{"blank name", func(m *store.ClientMetadata) { m.Name = "  " }, true, false, "client_name"},
		{"long name", func(m *store.ClientMetadata) { m.Name = strings.Repeat("a", MaxNameLength+1) }, false, false, "client_name"},
		{"bidi in name", func(m *store.ClientMetadata) { m.Name = "App\u202egpj.exe" }, false, false, "client_name"},
		{"http loopback client_uri", func(m *store.ClientMetadata) { m.ClientURI = "http://127.0.0.1:8080/" }, true, false, "client_uri"},
		{"http client_uri", func(m *store.ClientMetadata) { m.ClientURI = "http://app.example" }, false, false, "client_uri"},
		{"javascript logo_uri", func(m *store.ClientMetadata) { m.LogoURI = "javascript:alert(1)" }, false, false, "logo_uri"},
		{"user info in tos_uri", func(m *store.ClientMetadata) { m.TOSURI = "https://u:p@app.example/tos" }, false, false, "tos_uri"},
		{"quote in policy_uri", func(m *store.ClientMetadata) { m.PolicyURI = `https://app.example/"x` }, false, false, "policy_uri"},
		{"long URI", func(m *store.ClientMetadata) {
			m.ClientURI = "https://app.example/" + strings.Repeat("a", MaxURILength)
		}, false, false, "client_uri"},
		{"too many contacts", func(m *store.ClientMetadata) { m.Contacts = make([]string, MaxContacts+1) }, false, false, "contacts"},
		{"control in contact", func(m *store.ClientMetadata) { m.Contacts = []string{"a\x00b"} }, false, false, "contacts"},
		{"long software_version", func(m *store.ClientMetadata) { m.SoftwareVersion = strings.Repeat("1", 101) }, false, false, "software_version"},
		{"long scope", func(m *store.ClientMetadata) { m.Scope = strings.Repeat("a ", 3000) }, false, false, "scope"},
		{"application_type", func(m *store.ClientMetadata) { m.ApplicationType = "desktop" }, false, false, "application_type"},
	}
	for _, tt := range tests {
		for _, src := range []struct {
			s    Source
			want bool
		}{{Registration, tt.reg}, {Document, tt.doc}} {
			m := ok
			m.Contacts = append([]string(nil), ok.Contacts...)
			tt.edit(&m)
			err := CheckDescription(&m, src.s)
			if (err == nil) != src.want {
				t.Errorf("%s (source %d): err = %v, want accepted %v", tt.name, src.s, err, src.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantInText) {
				t.Errorf("%s: %q does not name %s", tt.name, err, tt.wantInText)
			}
		}
	}
}

func TestCheckRedirectURIs(t *testing.T) {
	refuse := errors.New("refused")
	check := func(u string) error {
		if strings.HasPrefix(u, "https://") {
			return nil
		}
		return refuse
	}
	many := make([]string, MaxRedirectURIs+1)
	for i := range many {
		many[i] = "https://a.example/cb"
	}
	for _, tt := range []struct {
		uris []string
		ok   bool
	}{
		{nil, false}, {[]string{"https://a.example/cb"}, true}, {[]string{"https://a.example/cb", "http://x/cb"}, false},
		{many[:MaxRedirectURIs], true}, {many, false},
	} {
		m := store.ClientMetadata{RedirectURIs: tt.uris}
		if err := CheckRedirectURIs(&m, check); (err == nil) != tt.ok {
			t.Errorf("%d URIs: err = %v, want ok %v", len(tt.uris), err, tt.ok)
		}
	}
}
