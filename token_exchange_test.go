package mcpauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth"
)

const subAgent = "did:grantex:ag_SUB"

// exchange runs the RFC 8693 token exchange for the public client.
func (e *env) exchange(clientID, subjectToken string, extra url.Values) *http.Response {
	e.t.Helper()
	v := merge(url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"client_id":          {clientID},
		"subject_token":      {subjectToken},
		"subject_token_type": {mcpauth.TokenTypeAccessToken},
		"actor_token":        {subAgent},
		"actor_token_type":   {mcpauth.TokenTypeAgentID},
	}, extra)
	return e.postForm("/token", v)
}

func (e *env) delegated(clientID, subjectToken string, extra url.Values) map[string]any {
	e.t.Helper()
	resp := e.exchange(clientID, subjectToken, extra)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("token exchange: status %d, body %s", resp.StatusCode, peek(resp))
	}
	return jsonBody(e.t, resp)
}

func TestTokenExchangeDelegates(t *testing.T) {
	e := newEnv(t)
	parent := e.tokens("pub", url.Values{"scope": {"read write"}})
	pt := parent["access_token"].(string)
	got := e.delegated("pub", pt, url.Values{"scope": {"read"}})
	// RFC 8693 §2.2.1.
	if got["issued_token_type"] != mcpauth.TokenTypeAccessToken || got["token_type"] != "Bearer" || got["scope"] != "read" {
		t.Errorf("response = %v", got)
	}
	if _, ok := got["refresh_token"]; ok {
		t.Error("a delegated token came with a refresh token")
	}
	if n, _ := got["expires_in"].(float64); n <= 0 {
		t.Errorf("expires_in = %v", got["expires_in"])
	}
	ct := got["access_token"].(string)
	_, pc := jwtParts(t, pt)
	_, cc := jwtParts(t, ct)
	act, _ := cc["act"].(map[string]any)
	switch {
	case cc["sub"] != pc["sub"]:
		t.Errorf("sub = %v, want the parent's %v", cc["sub"], pc["sub"])
	case act == nil || act["sub"] != subAgent:
		t.Errorf("act = %v, want sub %s (RFC 8693 §4.1)", cc["act"], subAgent)
	case cc["agt"] != subAgent || cc["parentAgt"] != pc["agt"] || cc["parentGrnt"] != pc["grnt"]:
		t.Errorf("agt %v parentAgt %v parentGrnt %v; parent agt %v grnt %v", cc["agt"], cc["parentAgt"], cc["parentGrnt"], pc["agt"], pc["grnt"])
	case num(cc["delegationDepth"]) != 1:
		t.Errorf("delegationDepth = %v, want 1", cc["delegationDepth"])
	case cc["grnt"] == pc["grnt"] || cc["grnt"] == "":
		t.Errorf("grnt = %v: the delegated token needs a grant of its own", cc["grnt"])
	case cc["aud"] != pc["aud"]:
		t.Errorf("aud = %v, want %v", cc["aud"], pc["aud"])
	}
	in := e.introspect(ct)
	if in["active"] != true || in["grantex_delegation_depth"] != float64(1) || in["grantex_parent_agent"] != pc["agt"] || in["scope"] != "read" {
		t.Errorf("introspection = %v", in)
	}
	// Delegating again nests the earlier actor (RFC 8693 §4.1).
	gt := e.delegated("pub", ct, url.Values{"actor_token": {"ag_GRAND"}})["access_token"].(string)
	_, gc := jwtParts(t, gt)
	ga, _ := gc["act"].(map[string]any)
	if inner, _ := ga["act"].(map[string]any); ga["sub"] != "ag_GRAND" || inner["sub"] != subAgent || num(gc["delegationDepth"]) != 2 || gc["agt"] != "did:grantex:ag_GRAND" {
		t.Errorf("grandchild act = %v, depth %v, agt %v", gc["act"], gc["delegationDepth"], gc["agt"])
	}
}

func TestTokenExchangeRefusals(t *testing.T) {
	e := newEnv(t)
	pt := e.tokens("pub", url.Values{"scope": {"read"}})["access_token"].(string)
	otherTok := e.tokens("other", url.Values{"scope": {"read"}})["access_token"].(string)
	tests := []struct {
		name, client, token string
		extra               url.Values
		want, desc          string
	}{
		{"wider scope", "pub", pt, url.Values{"scope": {"read write"}}, "invalid_scope", "exceeds"},
		{"no subject_token", "pub", "", nil, "invalid_request", "subject_token"},
		{"wrong subject_token_type", "pub", pt, url.Values{"subject_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"}}, "invalid_request", "subject_token_type"},
		{"unsupported requested type", "pub", pt, url.Values{"requested_token_type": {"urn:ietf:params:oauth:token-type:id_token"}}, "invalid_request", "issued"},
		{"actor_token without type", "pub", pt, url.Values{"actor_token_type": {""}}, "invalid_request", "actor_token_type"},
		{"actor type without token", "pub", pt, url.Values{"actor_token": {""}}, "invalid_request", "actor_token"},
		{"unknown actor type", "pub", pt, url.Values{"actor_token_type": {"urn:x"}}, "invalid_request", "actor_token_type"},
		{"actor with control characters", "pub", pt, url.Values{"actor_token": {"ag\n1"}}, "invalid_request", "printable"},
		{"garbage subject_token", "pub", "not.a.jwt", nil, "invalid_grant", "subject_token"},
		{"another client's token", "pub", otherTok, nil, "invalid_grant", "another client"},
		{"other resource", "pub", pt, url.Values{"resource": {resourceB}}, "invalid_target", "resource"},
		{"other audience", "pub", pt, url.Values{"audience": {"https://elsewhere.example"}}, "invalid_target", "audience"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, desc, status := errorOf(t, e.exchange(tc.client, tc.token, tc.extra)); code != tc.want || status != http.StatusBadRequest || !strings.Contains(desc, tc.desc) {
				t.Errorf("got %d %s %q, want 400 %s mentioning %q", status, code, desc, tc.want, tc.desc)
			}
		})
	}
}

func TestTokenExchangeDepthCap(t *testing.T) {
	for _, max := range []int{0, 1, 5} { // 0: the default, 3
		want := max
		if max == 0 {
			want = mcpauth.DefaultMaxDelegationDepth
		}
		e := newEnv(t, func(c *mcpauth.Config) { c.MaxDelegationDepth = max })
		tok := e.tokens("pub", nil)["access_token"].(string)
		for range want {
			tok = e.delegated("pub", tok, nil)["access_token"].(string)
		}
		if code, desc, _ := errorOf(t, e.exchange("pub", tok, nil)); code != "invalid_grant" || !strings.Contains(desc, "depth "+strconv.Itoa(want+1)) {
			t.Errorf("max %d: beyond the cap got %s %q, want invalid_grant naming depth %d", want, code, desc, want+1)
		}
	}
	if _, err := mcpauth.NewServer(mcpauth.Config{Issuer: testIssuer, MaxDelegationDepth: 11}); err == nil {
		t.Error("MaxDelegationDepth 11 accepted; the hard cap is 10")
	}
}

// errorOf reads an RFC 6749 §5.2 answer once: code, description, status.
func errorOf(t testing.TB, resp *http.Response) (code, desc string, status int) {
	t.Helper()
	m := jsonBody(t, resp)
	code, _ = m["error"].(string)
	desc, _ = m["error_description"].(string)
	return code, desc, resp.StatusCode
}

// The delegated token never outlives its parent.
func TestTokenExchangeExpiryCap(t *testing.T) {
	e := newEnv(t)
	pt := e.tokens("pub", nil)["access_token"].(string)
	e.clock.Advance(50 * time.Minute) // the parent has 10 minutes left, the TTL is 1 h
	ct := e.delegated("pub", pt, nil)["access_token"].(string)
	_, pc := jwtParts(t, pt)
	_, cc := jwtParts(t, ct)
	if num(cc["exp"]) > num(pc["exp"]) {
		t.Errorf("delegated exp %v is after the parent's %v", cc["exp"], pc["exp"])
	}
	e.clock.Advance(11 * time.Minute)
	if e.active(ct) {
		t.Error("the delegated token outlived its parent")
	}
}

// Revoking a grant revokes every grant delegated from it, at once.
func TestTokenExchangeCascade(t *testing.T) {
	for _, how := range []string{"Server.RevokeGrant", "/revoke refresh token"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t)
			parent := e.tokens("pub", nil)
			pt := parent["access_token"].(string)
			other := e.tokens("pub", nil)["access_token"].(string)
			ct := e.delegated("pub", pt, nil)["access_token"].(string)
			gt := e.delegated("pub", ct, nil)["access_token"].(string)
			sibling := e.delegated("pub", other, nil)["access_token"].(string)
			if !e.active(ct) || !e.active(gt) {
				t.Fatal("delegated tokens inactive before revocation")
			}
			// Subscribers may hear a grant twice (directly, and again from
			// the revocation feed this server follows): count distinct ids.
			var mu sync.Mutex
			revokedIDs := map[string]bool{}
			cancel := e.srv.SubscribeRevocations(func(_, grantID string) {
				mu.Lock()
				defer mu.Unlock()
				if grantID != "" {
					revokedIDs[grantID] = true
				}
			})
			defer cancel()
			if how == "Server.RevokeGrant" {
				_, pc := jwtParts(t, pt)
				if err := e.srv.RevokeGrant(t.Context(), pc["grnt"].(string)); err != nil {
					t.Fatal(err)
				}
			} else {
				resp := e.postForm("/revoke", url.Values{"token": {parent["refresh_token"].(string)}, "client_id": {"pub"}})
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("revoke: %d", resp.StatusCode)
				}
			}
			for name, tok := range map[string]string{"parent": pt, "child": ct, "grandchild": gt} {
				if e.active(tok) {
					t.Errorf("%s still active after the root grant was revoked", name)
				}
			}
			if !e.active(other) || !e.active(sibling) {
				t.Error("revocation reached another tree")
			}
			mu.Lock()
			told := len(revokedIDs)
			mu.Unlock()
			if told != 3 {
				t.Errorf("revocation subscribers were told %v, want the 3 grants of the tree", revokedIDs)
			}
			// No delegation from a revoked tree.
			if code, _ := oauthError(t, e.exchange("pub", ct, nil)); code != "invalid_grant" {
				t.Errorf("exchange of a revoked child: %s", code)
			}
		})
	}
}

func TestTokenExchangePolicy(t *testing.T) {
	var seen mcpauth.DelegationRequest
	e := newEnv(t, func(c *mcpauth.Config) {
		c.DelegationPolicy = func(_ context.Context, r mcpauth.DelegationRequest) error {
			seen = r
			if r.Actor == "did:grantex:ag_BAD" {
				return errors.New("agent ag_BAD is blocked")
			}
			return nil
		}
	})
	pt := e.tokens("pub", nil)["access_token"].(string)
	// The policy lets another client exchange the token.
	got := e.delegated("other", pt, url.Values{"scope": {"read"}})
	if seen.Client.ID != "other" || seen.Actor != subAgent || seen.Depth != 1 || len(seen.Scopes) != 1 || seen.Subject == nil {
		t.Errorf("policy saw %+v", seen)
	}
	_, cc := jwtParts(t, got["access_token"].(string))
	if cc["client_id"] != "other" {
		t.Errorf("client_id = %v", cc["client_id"])
	}
	if code, desc, _ := errorOf(t, e.exchange("pub", pt, url.Values{"actor_token": {"did:grantex:ag_BAD"}})); code != "invalid_grant" || !strings.Contains(desc, "blocked") {
		t.Errorf("refused by policy: %s %q", code, desc)
	}
}

func TestTokenExchangeAdvertisedOnlyWhenOn(t *testing.T) {
	for _, on := range []bool{true, false} {
		e := newEnv(t, func(c *mcpauth.Config) {
			if !on {
				c.MaxDelegationDepth = -1
			}
		})
		md := jsonBody(t, e.get("/.well-known/oauth-authorization-server"))
		adv := strings.Contains(strings.Join(toStrings(md["grant_types_supported"]), " "), "token-exchange")
		pt := e.tokens("pub", nil)["access_token"].(string)
		code := ""
		if resp := e.exchange("pub", pt, nil); resp.StatusCode != http.StatusOK {
			code, _ = oauthError(t, resp)
		}
		if adv != on || (code == "") != on || !on && code != "unsupported_grant_type" {
			t.Errorf("on=%v: advertised %v, error %q", on, adv, code)
		}
	}
}

// num reads a JSON number claim decoded by jwtParts.
func num(v any) int64 {
	n, _ := strconv.ParseInt(fmt.Sprint(v), 10, 64)
	return n
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
