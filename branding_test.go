package mcpauth_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
)

// TestConsentUIBranding: the pages embed the branding, so it must be https
// (or an inlined raster image for the logo); a data: logo is shown, not
// filtered out by the template's URL sanitizer.
func TestConsentUIBranding(t *testing.T) {
	const png = "data:image/png;base64,iVBORw0KGgo="
	e := newEnv(t, func(c *mcpauth.Config) {
		c.ConsentUI = mcpauth.ConsentUI{AppName: "Acme", AppLogo: png, PrivacyURL: "https://acme.example/privacy"}
	})
	resp := e.get("/authorize?client_id=nobody", "Accept", "text/html")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if page := string(b); !strings.Contains(page, `src="`+png+`"`) || !strings.Contains(page, `href="https://acme.example/privacy"`) {
		t.Errorf("error page lacks the branding:\n%s", page)
	}

	for _, tc := range []struct{ field, logo, privacy string }{
		{"ConsentUI.AppLogo", "javascript:alert(1)", ""},
		{"ConsentUI.AppLogo", "data:text/html;base64,PHNjcmlwdD4=", ""},
		{"ConsentUI.AppLogo", "data:image/svg+xml;base64,PHN2Zz4=", ""},
		{"ConsentUI.PrivacyURL", "", "http://acme.example/privacy"},
		{"ConsentUI.PrivacyURL", "", "/relative"},
	} {
		_, err := mcpauth.NewServer(mcpauth.Config{Issuer: "https://as.example", Scopes: []string{"a"},
			Users:     []mcpauth.PasswordUser{{Username: "u", PasswordHash: "x"}},
			ConsentUI: mcpauth.ConsentUI{AppLogo: tc.logo, PrivacyURL: tc.privacy}})
		var ce *mcpauth.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("logo %q privacy %q: %v, want a ConfigError on %s", tc.logo, tc.privacy, err, tc.field)
		}
	}
}
