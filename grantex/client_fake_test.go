package grantex_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/grantex"
	"github.com/mcpauth/mcpauth/grantex/grantextest"
)

// The client is what managed mode consumes.
var _ mcpauth.GrantexClient = (*grantex.Client)(nil)

var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// fixture is a fake Grantex, a client, and one grant already issued.
type fixture struct {
	srv *grantextest.Server
	c   *grantex.Client
	tok *grantex.Token
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	srv := grantextest.NewServer(grantextest.Options{Key: testKey()})
	t.Cleanup(srv.Close)
	c, err := srv.NewClient(grantextest.SandboxAPIKey, grantextest.DefaultAgentID,
		grantex.WithBackoff(time.Millisecond, 5*time.Millisecond), grantex.WithMaxAttempts(3))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.ExchangeCode(context.Background(), authorize(t, c), "")
	if err != nil {
		t.Fatal(err)
	}
	return fixture{srv, c, tok}
}

// authorize returns a sandbox code (approved at once).
func authorize(t *testing.T, c *grantex.Client) string {
	t.Helper()
	ar, err := c.Authorize(context.Background(), grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	return ar.Code
}

// TestSingleUseNeverReplayed is contract §1.10 end to end: Grantex commits
// the exchange or rotation and the answer is lost (connection dropped, a
// gateway's 502 or 504). The client must send the request exactly once, and
// the server's state proves it was processed: a replay would have met
// "Invalid code" / "Refresh token already used" and lost the new token.
func TestSingleUseNeverReplayed(t *testing.T) {
	faults := map[string]grantextest.Fault{
		"drop":  {AfterProcessing: true, Drop: true},
		"502":   {AfterProcessing: true, Status: http.StatusBadGateway},
		"504":   {AfterProcessing: true, Status: http.StatusGatewayTimeout},
		"500":   {AfterProcessing: true, Status: http.StatusInternalServerError},
		"stall": {AfterProcessing: true, Hang: true},
	}
	for name, f := range faults {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			ctx := context.Background()
			c, err := fx.srv.NewClient(grantextest.SandboxAPIKey, grantextest.DefaultAgentID,
				grantex.WithBackoff(time.Millisecond, 5*time.Millisecond), grantex.WithAttemptTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}

			code := authorize(t, c)
			fx.srv.Inject("/v1/token", 1, f)
			if _, err := c.ExchangeCode(ctx, code, ""); err == nil {
				t.Fatal("exchange succeeded through the fault")
			}
			if n := fx.srv.Requests("/v1/token"); n != 2 { // one from the fixture
				t.Errorf("POST /v1/token sent %d times, want once", n-1)
			}
			if _, err := c.ExchangeCode(ctx, code, ""); grantex.StatusCode(err) != 400 {
				t.Errorf("code not consumed by the lost exchange: %v", err)
			}

			fx.srv.Inject("/v1/token/refresh", 1, f)
			if _, err := c.RefreshToken(ctx, fx.tok.RefreshToken); err == nil {
				t.Fatal("refresh succeeded through the fault")
			}
			if n := fx.srv.Requests("/v1/token/refresh"); n != 1 {
				t.Errorf("POST /v1/token/refresh sent %d times, want once", n)
			}
			_, err = c.RefreshToken(ctx, fx.tok.RefreshToken)
			if e, ok := errors.AsType[*grantex.APIError](err); !ok || e.Message != "Refresh token already used" {
				t.Errorf("refresh token not consumed by the lost rotation: %v", err)
			}
		})
	}
}

// TestSingleUseRetriedWhenRefusedFirst: a limiter's 429 or 503 is answered
// before the handler runs, so the code is intact and the retry succeeds.
func TestSingleUseRetriedWhenRefusedFirst(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			fx := newFixture(t)
			ctx := context.Background()
			code := authorize(t, fx.c)
			fx.srv.Inject("/v1/token", 1, grantextest.Fault{Status: status})
			if _, err := fx.c.ExchangeCode(ctx, code, ""); err != nil {
				t.Fatalf("exchange: %v", err)
			}
			fx.srv.Inject("/v1/token/refresh", 1, grantextest.Fault{Status: status})
			if _, err := fx.c.RefreshToken(ctx, fx.tok.RefreshToken); err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if n := fx.srv.Requests("/v1/token/refresh"); n != 2 {
				t.Errorf("refresh requests = %d, want 2", n)
			}
		})
	}
}

// TestIdempotentCallsRetried: authorize, verify and both revocations are
// re-sent after a 502, and the reads and revocations also after a lost answer.
func TestIdempotentCallsRetried(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()

	fx.srv.FailNext("/v1/authorize", http.StatusBadGateway)
	if _, err := fx.c.Authorize(ctx, grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}}); err != nil {
		t.Fatalf("authorize: %v", err)
	}

	fx.srv.Inject("/v1/tokens/verify", 1, grantextest.Fault{AfterProcessing: true, Drop: true})
	if v, err := fx.c.VerifyToken(ctx, fx.tok.GrantToken); err != nil || !v.Valid {
		t.Fatalf("verify: %+v, %v", v, err)
	}
	if n := fx.srv.Requests("/v1/tokens/verify"); n != 2 {
		t.Errorf("verify requests = %d, want 2", n)
	}

	// The first revoke commits and its answer is lost; the retry meets 404,
	// which is success.
	jti := jtiOf(t, fx, fx.tok.GrantToken)
	fx.srv.Inject("/v1/tokens/revoke", 1, grantextest.Fault{AfterProcessing: true, Status: http.StatusBadGateway})
	if err := fx.c.RevokeToken(ctx, jti); err != nil {
		t.Fatalf("revoke token: %v", err)
	}
	if n := fx.srv.Requests("/v1/tokens/revoke"); n != 2 {
		t.Errorf("revoke requests = %d, want 2", n)
	}

	path := "/v1/grants/" + fx.tok.GrantID
	fx.srv.Inject(path, 1, grantextest.Fault{AfterProcessing: true, Drop: true})
	if err := fx.c.RevokeGrant(ctx, fx.tok.GrantID); err != nil {
		t.Fatalf("revoke grant: %v", err)
	}
	if n := fx.srv.Requests(path); n != 2 {
		t.Errorf("DELETE requests = %d, want 2", n)
	}
	if v, err := fx.c.VerifyToken(ctx, fx.tok.GrantToken); err != nil || v.Valid {
		t.Errorf("verify after revocation: %+v, %v", v, err)
	}
}

// TestAuthorizeNotResentAfterTimeout: a timed-out authorize may have spent
// the developer's 10/min budget, so it is not re-sent.
func TestAuthorizeNotResentAfterTimeout(t *testing.T) {
	fx := newFixture(t)
	c, err := fx.srv.NewClient(grantextest.SandboxAPIKey, grantextest.DefaultAgentID, grantex.WithAttemptTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	before := fx.srv.Requests("/v1/authorize")
	fx.srv.HangNext("/v1/authorize")
	_, err = c.Authorize(context.Background(), grantex.AuthorizeParams{PrincipalID: "u", Scopes: []string{"r"}})
	if !grantex.IsOutcomeUnknown(err) || !grantex.IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
	if n := fx.srv.Requests("/v1/authorize") - before; n != 1 {
		t.Errorf("authorize sent %d times, want 1", n)
	}
}

// jtiOf returns a grant token's jti, checking the fake's signature.
func jtiOf(t *testing.T, fx fixture, raw string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if err := tok.Claims(fx.srv.PublicKey(), &c); err != nil || c.JTI == "" {
		t.Fatalf("claims: %v (jti %q)", err, c.JTI)
	}
	return c.JTI
}
