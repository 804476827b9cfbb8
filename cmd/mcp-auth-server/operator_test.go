package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrandedPages: -app-name, -logo-url, -privacy-url and -terms-url reach
// the sign-in page a browser is sent to.
func TestBrandedPages(t *testing.T) {
	s := startRun(t, "-store", "memory:", "-user", "ann:pw-ann-123",
		"-app-name", "Acme Tools", "-logo-url", "https://cdn.acme.example/logo.png",
		"-privacy-url", "https://acme.example/privacy", "-terms-url", "https://acme.example/terms")
	reg := registerPublicClient(t, s.issuer, `"client_name":"T"`)
	q := url.Values{"client_id": {reg}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "response_type": {"code"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}, "state": {"s"}}
	resp, err := http.Get(s.issuer + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	for _, want := range []string{"Acme Tools", `src="https://cdn.acme.example/logo.png"`, `href="https://acme.example/privacy"`, `href="https://acme.example/terms"`} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-in page lacks %s:\n%s", want, page)
		}
	}
}

// TestOperatorErrorMessages: a bad flag value, set on the command line or in
// the environment, names what the operator actually typed and what is wanted.
func TestOperatorErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"duration from env", nil, map[string]string{"MCPAUTH_STORE_TIMEOUT": "soon"}, []string{"MCPAUTH_STORE_TIMEOUT", "a duration"}},
		{"number from env", nil, map[string]string{"MCPAUTH_MAX_PENDING": "lots"}, []string{"MCPAUTH_MAX_PENDING", "a whole number"}},
		{"bool from env", nil, map[string]string{"MCPAUTH_TRUST_FORWARDED_FOR": "maybe"}, []string{"MCPAUTH_TRUST_FORWARDED_FOR", "true or false"}},
		{"validated value from env", nil, map[string]string{"MCPAUTH_RATE_LIMIT": "bogus"}, []string{"-rate-limit", "set by MCPAUTH_RATE_LIMIT"}},
		{"validated value from a flag", []string{"-rate-limit", "bogus"}, map[string]string{"MCPAUTH_RATE_LIMIT": "token=1/m"}, []string{"-rate-limit"}},
		{"logo not https", []string{"-logo-url", "javascript:alert(1)"}, nil, []string{"-logo-url", "https"}},
		{"privacy on a foreign http host", []string{"-privacy-url", "http://example.com/p"}, nil, []string{"-privacy-url"}},
		{"user name with a line break", []string{"-user", "eve\r\nX-Mcp-Auth-Scopes:pw"}, nil, []string{"-user", "control characters"}},
		{"empty app name", []string{"-app-name", " "}, nil, []string{"-app-name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, envMap(tc.env), io.Discard)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
			if len(tc.args) > 0 && strings.Contains(err.Error(), "set by") {
				t.Errorf("%q blames the environment for a flag", err)
			}
		})
	}
}

// TestSQLiteOpenErrorsSayWhy: a store path in a missing or unwritable
// directory fails at start-up with the reason, not the driver's "unable to
// open database file".
func TestSQLiteOpenErrorsSayWhy(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "such", "dir", "m.db")
	if err := checkSQLitePath(missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing directory: %v", err)
	}
	if err := checkSQLitePath(filepath.Join(dir, "ok.db")); err != nil {
		t.Errorf("writable directory: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the check left files behind: %v", entries)
	}
	err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-store", "sqlite:" + missing}, envMap(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("run: %v", err)
	}

	// Permissions cannot be denied to root: run the check as nobody.
	if os.Getuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		if err := checkSQLitePath(filepath.Join(ro, "x.db")); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("read-only directory: %v", err)
		}
		return
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Skip("root without runuser: cannot check permission errors")
	}
	ro := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(ro, 0o555)
	bin := filepath.Join(t.TempDir(), "mcp-auth-server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	// nobody must reach the binary and the directory: open up the temp dirs.
	for _, d := range []string{filepath.Dir(bin), filepath.Dir(filepath.Dir(bin)), filepath.Dir(ro), filepath.Dir(filepath.Dir(ro))} {
		os.Chmod(d, 0o755)
	}
	out, _ := exec.Command("runuser", "-u", "nobody", "--", bin, "-addr", "127.0.0.1:0", "-store", "sqlite:"+filepath.Join(ro, "x.db")).CombinedOutput()
	if !strings.Contains(string(out), "permission denied") || !strings.Contains(string(out), ro) {
		t.Errorf("as nobody: %s", out)
	}
}
