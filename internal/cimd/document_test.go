package cimd

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/internal/display"
)

const testID = "https://app.example.com/oauth/client.json"

func TestValidateURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		ok   bool
	}{
		{"simple", testID, true},
		{"query allowed", "https://app.example.com/client.json?v=2", true},
		{"port allowed", "https://app.example.com:8443/client.json", true},
		{"public IP literal", "https://203.0.114.7/client.json", true},
		{"http", "http://app.example.com/client.json", false},
		{"upper-case scheme", "HTTPS://app.example.com/client.json", false},
		{"no path", "https://app.example.com", false},
		{"root path", "https://app.example.com/", false},
		{"fragment", "https://app.example.com/client.json#x", false},
		{"empty fragment", "https://app.example.com/client.json#", false},
		{"user info", "https://user:pw@app.example.com/client.json", false},
		{"user only", "https://user@app.example.com/client.json", false},
		{"dot segment", "https://app.example.com/./client.json", false},
		{"dot-dot segment", "https://app.example.com/a/../client.json", false},
		{"trailing dot-dot", "https://app.example.com/a/..", false},
		{"encoded dot-dot", "https://app.example.com/a/%2E%2e/client.json", false},
		{"dots inside a name are fine", "https://app.example.com/a..b/client.v1.json", true},
		{"space", "https://app.example.com/client .json", false},
		{"backslash", "https://app.example.com\\@evil/client.json", false},
		{"control char", "https://app.example.com/client\n.json", false},
		{"no host", "https:///client.json", false},
		{"port zero", "https://app.example.com:0/client.json", false},
		{"empty port", "https://app.example.com:/client.json", false},
		{"too long", "https://app.example.com/" + strings.Repeat("a", MaxURLLength), false},
		{"loopback literal", "https://127.0.0.1/client.json", false},
		{"private literal", "https://10.0.0.1/client.json", false},
		{"IPv6 loopback literal", "https://[::1]/client.json", false},
		{"metadata service", "https://169.254.169.254/latest/meta-data", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ValidateURL(tt.url)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Kind != KindInvalidURL {
					t.Fatalf("error %v is not a KindInvalidURL *Error", err)
				}
			}
		})
	}
}

func doc(fields string) []byte {
	return []byte(`{"client_id":"` + testID + `","client_name":"Example","redirect_uris":["https://app.example.com/cb"]` + fields + `}`)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string // substring; empty means success
		check   func(*testing.T, *Document)
	}{
		{name: "minimal, defaults", body: string(doc("")), check: func(t *testing.T, d *Document) {
			if d.TokenEndpointAuthMethod != "none" || !slices.Equal(d.GrantTypes, []string{"authorization_code"}) ||
				!slices.Equal(d.ResponseTypes, []string{"code"}) || d.Name != "Example" || d.ClientID != testID {
				t.Errorf("got %+v", d)
			}
		}},
		{name: "full", body: string(doc(`,"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],
			"response_types":["code"],"application_type":"native","client_uri":"https://app.example.com","logo_uri":"https://app.example.com/l.png",
			"tos_uri":"https://app.example.com/tos","policy_uri":"https://app.example.com/p","scope":"read write","contacts":["a@example.com"],
			"software_id":"x","software_version":"1.0","jwks_uri":"https://ignored.example","extra":{"nested":[1,2]}`)),
			check: func(t *testing.T, d *Document) {
				if !slices.Equal(d.GrantTypes, []string{"authorization_code", "refresh_token"}) || d.ApplicationType != "native" ||
					d.LogoURI != "https://app.example.com/l.png" || d.Scope != "read write" || d.SoftwareVersion != "1.0" {
					t.Errorf("got %+v", d)
				}
			}},
		{name: "unsupported grant types are dropped", body: string(doc(`,"grant_types":["authorization_code","urn:ietf:params:oauth:grant-type:device_code"],"response_types":["code","id_token"]`)),
			check: func(t *testing.T, d *Document) {
				if !slices.Equal(d.GrantTypes, []string{"authorization_code"}) || !slices.Equal(d.ResponseTypes, []string{"code"}) {
					t.Errorf("got %v %v", d.GrantTypes, d.ResponseTypes)
				}
			}},
		{name: "client_id mismatch", body: `{"client_id":"https://evil.example.com/client.json","client_name":"X","redirect_uris":["https://a.example/cb"]}`, wantErr: "does not equal"},
		{name: "client_id differs by trailing slash", body: `{"client_id":"` + testID + `/","client_name":"X","redirect_uris":["https://a.example/cb"]}`, wantErr: "does not equal"},
		{name: "client_id missing", body: `{"client_name":"X","redirect_uris":["https://a.example/cb"]}`, wantErr: "no client_id"},
		{name: "client_id wrong type", body: `{"client_id":1,"client_name":"X","redirect_uris":["https://a.example/cb"]}`, wantErr: "wrong type"},
		{name: "client_name missing", body: `{"client_id":"` + testID + `","redirect_uris":["https://a.example/cb"]}`, wantErr: "client_name"},
		{name: "client_name blank", body: `{"client_id":"` + testID + `","client_name":"  ","redirect_uris":["https://a.example/cb"]}`, wantErr: "client_name"},
		{name: "client_name control char", body: `{"client_id":"` + testID + `","client_name":"a\u0000b","redirect_uris":["https://a.example/cb"]}`, wantErr: "client_name"},
		{name: "client_name bidi override", body: `{"client_id":"` + testID + `","client_name":"Evil\u202Eppa","redirect_uris":["https://a.example/cb"]}`, wantErr: "client_name"},
		{name: "client_name zero width", body: `{"client_id":"` + testID + `","client_name":"Go\u200Bogle","redirect_uris":["https://a.example/cb"]}`, wantErr: "client_name"},
		{name: "redirect URI bidi", body: `{"client_id":"` + testID + `","client_name":"X","redirect_uris":["https://a.example/\u202Ecb"]}`, wantErr: "redirect URI"},
		{name: "client_uri bidi", body: string(doc(`,"client_uri":"https://a.example/\u2066x"`)), wantErr: "client_uri"},
		{name: "software_id isolate", body: string(doc(`,"software_id":"a\u2069"`)), wantErr: "software_id"},
		{name: "contacts bidi", body: string(doc(`,"contacts":["\u202Dx@example.com"]`)), wantErr: "contacts"},
		{name: "redirect_uris missing", body: `{"client_id":"` + testID + `","client_name":"X"}`, wantErr: "redirect_uris"},
		{name: "redirect_uris empty", body: `{"client_id":"` + testID + `","client_name":"X","redirect_uris":[]}`, wantErr: "redirect_uris"},
		{name: "redirect_uris not an array", body: `{"client_id":"` + testID + `","client_name":"X","redirect_uris":"https://a.example/cb"}`, wantErr: "wrong type"},
		{name: "javascript redirect", body: `{"client_id":"` + testID + `","client_name":"X","redirect_uris":["javascript:alert(1)"]}`, wantErr: "redirect URI"},
		{name: "http non-loopback redirect", body: `{"client_id":"` + testID + `","client_name":"X","redirect_uris":["http://a.example/cb"]}`, wantErr: "redirect URI"},
		{name: "loopback redirect", body: `{"client_id":"` + testID + `","client_name":"X","redirect_uris":["http://127.0.0.1:3000/cb"]}`},
		{name: "too many redirects", body: `{"client_id":"` + testID + `","client_name":"X","redirect_uris":[` + strings.Repeat(`"https://a.example/cb",`, MaxRedirectURIs) + `"https://a.example/cb"]}`, wantErr: "at most"},
		{name: "secret method", body: string(doc(`,"token_endpoint_auth_method":"client_secret_basic"`)), wantErr: "cannot carry a secret"},
		{name: "secret post", body: string(doc(`,"token_endpoint_auth_method":"client_secret_post"`)), wantErr: "cannot carry a secret"},
		{name: "private_key_jwt", body: string(doc(`,"token_endpoint_auth_method":"private_key_jwt"`)), wantErr: "private_key_jwt"},
		{name: "client_secret present", body: string(doc(`,"client_secret":"s3cret"`)), wantErr: "client_secret"},
		{name: "no authorization_code", body: string(doc(`,"grant_types":["refresh_token"]`)), wantErr: "authorization_code"},
		{name: "no code response type", body: string(doc(`,"response_types":["token"]`)), wantErr: "code"},
		{name: "bad application_type", body: string(doc(`,"application_type":"desktop"`)), wantErr: "application_type"},
		{name: "http logo", body: string(doc(`,"logo_uri":"http://app.example.com/l.png"`)), wantErr: "logo_uri"},
		{name: "javascript client_uri", body: string(doc(`,"client_uri":"javascript:alert(1)"`)), wantErr: "client_uri"},
		{name: "too many contacts", body: string(doc(`,"contacts":["a","b","c","d","e","f","g","h","i","j","k"]`)), wantErr: "contacts"},
		{name: "array", body: `[1,2]`, wantErr: "not a JSON object"},
		{name: "null", body: `null`, wantErr: "not a JSON object"},
		{name: "html", body: `<html>hello</html>`, wantErr: "not a JSON object"},
		{name: "truncated", body: `{"client_id":"` + testID, wantErr: "not valid JSON"},
		{name: "trailing garbage", body: string(doc("")) + `{}`, wantErr: "not valid JSON"},
		{name: "empty", body: ``, wantErr: "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(testID, []byte(tt.body), ParseOptions{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if tt.check != nil {
					tt.check(t, d)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tt.wantErr)
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalidDocument {
				t.Fatalf("error %v is not a KindInvalidDocument *Error", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseCustomRedirectValidator(t *testing.T) {
	reject := func(u string) error {
		if strings.HasPrefix(u, "https://allowed.example/") {
			return nil
		}
		return errors.New("not allowed here")
	}
	if _, err := Parse(testID, doc(""), ParseOptions{ValidateRedirectURI: reject}); err == nil || !strings.Contains(err.Error(), "not allowed here") {
		t.Fatalf("Parse = %v, want the validator's error", err)
	}
	body := []byte(`{"client_id":"` + testID + `","client_name":"X","redirect_uris":["https://allowed.example/cb"]}`)
	if _, err := Parse(testID, body, ParseOptions{ValidateRedirectURI: reject}); err != nil {
		t.Fatalf("Parse: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(testID, string(doc("")))
	f.Add(testID, string(doc(`,"grant_types":["authorization_code","refresh_token"],"logo_uri":"https://x.example/l"`)))
	f.Add(testID, `{"client_id":"`+testID+`","client_name":"\u2028","redirect_uris":["com.example.app:/cb"]}`)
	f.Add("https://a.example/c", `{"client_id":"https://a.example/c","client_secret":"x"}`)
	f.Add(testID, `[]`)
	f.Add(testID, `{"client_id":null}`)
	f.Add(testID, `{"client_id":"`+testID+`","client_name":"a\u202eb","redirect_uris":["https://a.example/cb"]}`)
	f.Fuzz(func(t *testing.T, clientID, body string) {
		d, err := Parse(clientID, []byte(body), ParseOptions{})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalidDocument || e.Description == "" {
				t.Fatalf("error %v is not a described KindInvalidDocument", err)
			}
			return
		}
		if d.ClientID != clientID || d.TokenEndpointAuthMethod != "none" || strings.TrimSpace(d.Name) == "" {
			t.Fatalf("accepted an invalid document: %+v", d)
		}
		if len(d.RedirectURIs) == 0 || len(d.RedirectURIs) > MaxRedirectURIs {
			t.Fatalf("accepted %d redirect URIs", len(d.RedirectURIs))
		}
		for _, r := range d.RedirectURIs {
			if defaultRedirectCheck(r) != nil {
				t.Fatalf("accepted redirect URI %q", r)
			}
		}
		if !slices.Contains(d.GrantTypes, "authorization_code") || !slices.Equal(d.ResponseTypes, []string{"code"}) {
			t.Fatalf("grant or response types %v %v", d.GrantTypes, d.ResponseTypes)
		}
		for _, g := range d.GrantTypes {
			if g != "authorization_code" && g != "refresh_token" {
				t.Fatalf("unsupported grant type %q kept", g)
			}
		}
		// Nothing the consent page shows carries control or bidi characters.
		for _, x := range append([]string{d.Name, d.ClientURI, d.LogoURI, d.TOSURI, d.PolicyURI, d.SoftwareID, d.SoftwareVersion, d.Scope},
			append(d.Contacts, d.RedirectURIs...)...) {
			if !display.Safe(x) {
				t.Fatalf("unsafe text accepted: %q", x)
			}
		}
	})
}

func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{testID, "https://a.example/%2e%2E/x", "https://[::1]/x", "https://u@h/x", "https://h:0/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ValidateURL(raw)
		if err != nil {
			return
		}
		if u.Scheme != "https" || u.User != nil || u.Fragment != "" || u.Host == "" || len(raw) > MaxURLLength {
			t.Fatalf("accepted %q", raw)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted dot segment in %q", raw)
			}
		}
	})
}
