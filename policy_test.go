package mcpauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauth/mcpauth"
)

// switchPolicy is a Config.GrantPolicy whose answer a test changes between
// requests; it records what it was asked.
type switchPolicy struct {
	mu     sync.Mutex
	answer func(mcpauth.GrantRequest) ([]string, error)
	asked  []mcpauth.GrantRequest
}

func (p *switchPolicy) set(f func(mcpauth.GrantRequest) ([]string, error)) {
	p.mu.Lock()
	p.answer = f
	p.mu.Unlock()
}

func (p *switchPolicy) policy(_ context.Context, r mcpauth.GrantRequest) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, r)
	return p.answer(r)
}

// allowAll grants every requested scope.
func allowAll(r mcpauth.GrantRequest) ([]string, error) { return r.Scopes, nil }

// dropWrite grants everything but write.
func dropWrite(r mcpauth.GrantRequest) ([]string, error) {
	return slices.DeleteFunc(slices.Clone(r.Scopes), func(s string) bool { return s == "write" }), nil
}

var consentScopeRE = regexp.MustCompile(`<span class="scope-name">([^<]*)</span>`)

// consentScopes lists the scopes a consent page shows.
func consentScopes(page string) []string {
	var out []string
	for _, m := range consentScopeRE.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

// approveAndRedeem approves a consent form and redeems the code at /token.
func approveAndRedeem(t *testing.T, e *env, b *browser, form url.Values, verifier, redirect string) map[string]any {
	t.Helper()
	form.Set("decision", "approve")
	resp := b.post(e.issuer+"/consent", form)
	code := location(t, resp).Query().Get("code")
	if resp.StatusCode != http.StatusFound || code == "" {
		t.Fatalf("approve: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = e.postForm("/token", tokenReq("pub", code, verifier, redirect))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %s", resp.StatusCode, peek(resp))
	}
	return jsonBody(t, resp)
}

// TestGrantPolicyNarrowsConsentAndToken: over HTTP, the consent page shows
// only what the policy allows, and the token carries no more, even when the
// policy tightens between the page and the approval, or answers with scopes
// that were never requested.
func TestGrantPolicyNarrowsConsentAndToken(t *testing.T) {
	tests := []struct {
		name        string
		scope       string
		atPage      func(mcpauth.GrantRequest) ([]string, error)
		atApprove   func(mcpauth.GrantRequest) ([]string, error)
		wantPage    []string
		wantGranted string
	}{
		{"no narrowing", "read write", allowAll, allowAll, []string{"read", "write"}, "read write"},
		{"write dropped", "read write", dropWrite, dropWrite, []string{"read"}, "read"},
		{"tightened before approval", "read write", allowAll, dropWrite, []string{"read", "write"}, "read"},
		{"policy cannot widen", "read", func(mcpauth.GrantRequest) ([]string, error) { return []string{"read", "write", "admin"}, nil },
			func(mcpauth.GrantRequest) ([]string, error) { return []string{"read", "write", "admin"}, nil }, []string{"read"}, "read"},
		{"offline_access kept", "read write offline_access", dropWrite, dropWrite, []string{"read", "offline_access"}, "read offline_access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := &switchPolicy{answer: tt.atPage}
			e := newEnv(t, withUsers(t), func(c *mcpauth.Config) { c.GrantPolicy = pol.policy })
			b := e.browser()
			v := newVerifier()
			q := authzQuery("pub", pubRedirect, v)
			q.Set("scope", tt.scope)
			form, page := loginFlow(t, e, b, q)
			if got := consentScopes(peek(page)); !slices.Equal(got, tt.wantPage) {
				t.Errorf("consent page shows %v, want %v", got, tt.wantPage)
			}
			pol.set(tt.atApprove)
			tok := approveAndRedeem(t, e, b, form, v, pubRedirect)
			_, claims := jwtParts(t, tok["access_token"].(string))
			if tok["scope"] != tt.wantGranted || claims["scope"] != tt.wantGranted {
				t.Errorf("token response scope %v, token scope %v; want %q", tok["scope"], claims["scope"], tt.wantGranted)
			}
			pol.mu.Lock()
			defer pol.mu.Unlock()
			if len(pol.asked) != 2 {
				t.Fatalf("policy asked %d times, want 2 (consent page and approval)", len(pol.asked))
			}
			for _, r := range pol.asked {
				if r.User.Subject != "user-alice" || r.Client.ID != "pub" || r.Resource != resourceA || strings.Join(r.Scopes, " ") != tt.scope {
					t.Errorf("policy asked %+v", r)
				}
			}
		})
	}
}

// TestGrantPolicyErrorRedirects: a policy error after sign-in reaches the
// client as an RFC 6749 §4.1.2.1 error with state and iss, never a code;
// at the consent page and at approval alike.
func TestGrantPolicyErrorRedirects(t *testing.T) {
	tests := []struct {
		name   string
		answer func(mcpauth.GrantRequest) ([]string, error)
		want   string
	}{
		{"access denied", func(mcpauth.GrantRequest) ([]string, error) {
			return nil, fmt.Errorf("account suspended: %w", mcpauth.ErrAccessDenied)
		}, "access_denied"},
		{"invalid scope", func(mcpauth.GrantRequest) ([]string, error) {
			return nil, fmt.Errorf("write is for editors: %w", mcpauth.ErrInvalidScope)
		}, "invalid_scope"},
		{"nothing left", func(mcpauth.GrantRequest) ([]string, error) { return []string{"offline_access"}, nil }, "invalid_scope"},
		{"policy broken", func(mcpauth.GrantRequest) ([]string, error) { return nil, errors.New("directory down") }, "server_error"},
	}
	for _, tt := range tests {
		for _, at := range []string{"consent page", "approval"} {
			t.Run(tt.name+"/"+at, func(t *testing.T) {
				pol := &switchPolicy{answer: allowAll}
				e := newEnv(t, withUsers(t), func(c *mcpauth.Config) { c.GrantPolicy = pol.policy })
				b := e.browser()
				q := authzQuery("pub", pubRedirect, newVerifier())
				q.Set("scope", "read write offline_access")
				form, _ := loginFlow(t, e, b, q) // signed in
				var resp *http.Response
				if at == "consent page" {
					pol.set(tt.answer)
					resp = b.get(e.issuer + "/authorize?" + q.Encode())
					resp = b.get(e.absolute(location(t, resp)))
				} else {
					pol.set(tt.answer)
					form.Set("decision", "approve")
					resp = b.post(e.issuer+"/consent", form)
				}
				u := location(t, resp)
				if qq := u.Query(); resp.StatusCode != http.StatusFound || !strings.HasPrefix(u.String(), pubRedirect) ||
					qq.Get("error") != tt.want || qq.Get("state") != "st-pub" || qq.Get("iss") != testIssuer || qq.Get("code") != "" {
					t.Fatalf("got %d %s, want a redirect with error=%s, state and iss", resp.StatusCode, u, tt.want)
				}
				if d := u.Query().Get("error_description"); strings.Contains(d, "suspended") || strings.Contains(d, "editors") {
					t.Errorf("the policy's internal reason reached the client: %q", d)
				}
			})
		}
	}
}
