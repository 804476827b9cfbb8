package mcpauth_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestTracingSpans: with a tracer provider, the token request is a server
// span and its store calls are client spans below it; no attribute carries
// the subject, the client id or a token.
func TestTracingSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(t.Context())
	e := newEnv(t, func(c *mcpauth.Config) { c.TracerProvider = tp })
	tok := e.tokens("pub", nil)

	spans := rec.Ended()
	var tokenSpan sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == "mcpauth POST /token" {
			tokenSpan = s
		}
	}
	if tokenSpan == nil {
		t.Fatalf("no span for POST /token among %d spans", len(spans))
	}
	if tokenSpan.SpanKind() != trace.SpanKindServer {
		t.Errorf("token span kind %v, want server", tokenSpan.SpanKind())
	}
	attrs := map[string]string{}
	for _, a := range tokenSpan.Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["http.route"] != "/token" || attrs["http.request.method"] != "POST" || attrs["http.response.status_code"] != "200" {
		t.Errorf("token span attributes %v", attrs)
	}

	var redeem sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == "mcpauth.store RedeemCode" {
			redeem = s
		}
	}
	if redeem == nil {
		t.Fatal("no span for the RedeemCode store call")
	}
	if redeem.Parent().SpanID() != tokenSpan.SpanContext().SpanID() || redeem.SpanKind() != trace.SpanKindClient {
		t.Errorf("RedeemCode span: parent %v kind %v; want the token span %v, client", redeem.Parent().SpanID(), redeem.SpanKind(), tokenSpan.SpanContext().SpanID())
	}

	for _, s := range spans {
		for _, a := range s.Attributes() {
			v := a.Value.Emit()
			for _, secret := range []string{autoSubject, tok["access_token"].(string), tok["refresh_token"].(string)} {
				if strings.Contains(v, secret) {
					t.Errorf("span %s attribute %s carries %q", s.Name(), a.Key, secret)
				}
			}
			if v == "pub" {
				t.Errorf("span %s attribute %s carries the client id", s.Name(), a.Key)
			}
		}
	}
}

// TestTracingStoreFailureSpan: a failing store call is an error span, and
// its 500 an error on the endpoint's span.
func TestTracingStoreFailureSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(t.Context())
	var gs *failingIsRevoked
	e := newEnv(t, func(c *mcpauth.Config) {
		c.TracerProvider = tp
		gs = &failingIsRevoked{GrantStore: c.Grants, fail: true}
		c.Grants = gs
	})
	tok := e.tokens("pub", nil)
	r := e.req(http.MethodPost, "/introspect", strings.NewReader("token="+tok["access_token"].(string)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", basic("conf", confSecret))
	e.srv.ServeHTTP(newRecorder(), r)
	found := map[string]bool{}
	for _, s := range rec.Ended() {
		if s.Name() == "mcpauth.store IsRevoked" || s.Name() == "mcpauth POST /introspect" {
			found[s.Name()] = true
			if s.Status().Code.String() != "Error" {
				t.Errorf("span %s status %v, want Error", s.Name(), s.Status())
			}
		}
	}
	if len(found) != 2 {
		t.Fatalf("spans found: %v", found)
	}
}
