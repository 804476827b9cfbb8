package mcpauth

// This file implements OpenTelemetry tracing: a span per endpoint and per
// store call when Config.TracerProvider is set, none otherwise. Spans carry
// the route, the method, the status and the store operation; never a
// subject, a client id or a token.

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of every span the server makes.
const tracerName = "github.com/mcpauth/mcpauth"

// newTracer returns the server's tracer: tp's, or nil without one, so
// that an untraced server does not build spans (names, attributes, a
// request copy) only to drop them.
func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(tracerName)
}

// startRequestSpan starts the server span of one endpoint request.
func startRequestSpan(t trace.Tracer, r *http.Request, endpoint string) (context.Context, trace.Span) {
	return t.Start(r.Context(), "mcpauth "+r.Method+" "+endpoint,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("http.route", endpoint),
		))
}

// endRequestSpan records the status and ends the span; 5xx is an error
// (OpenTelemetry HTTP semantic conventions: 4xx is not, on the server).
func endRequestSpan(span trace.Span, status int) {
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// storeObserver instruments the store calls of one server (storewrap.go):
// a client span each, and the latency and error metrics.
type storeObserver struct {
	tracer  trace.Tracer
	metrics *serverMetrics
}

// observe runs one store call f with its span and metrics. A nil observer
// runs f as is.
func (o *storeObserver) observe(ctx context.Context, op string, f func(context.Context) error) error {
	if o == nil {
		return f(ctx)
	}
	var span trace.Span
	if o.tracer != nil {
		ctx, span = o.tracer.Start(ctx, "mcpauth.store "+op,
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("mcpauth.store.operation", op)))
	}
	start := time.Now()
	err := f(ctx)
	o.metrics.storeCall(op, time.Since(start), err)
	if span == nil {
		return err
	}
	if err != nil && !isStoreAnswer(err) {
		span.RecordError(err)
		span.SetStatus(codes.Error, "store call failed")
	}
	span.End()
	return err
}

// newObservers makes the server's metrics, tracer and the store budget that
// carries both to every store call.
func newObservers(cfg *Config) (*serverMetrics, trace.Tracer, storeBudget, error) {
	m, err := newServerMetrics(cfg.Metrics)
	if err != nil {
		return nil, nil, storeBudget{}, configErr("Metrics", "%v", err)
	}
	t := newTracer(cfg.TracerProvider)
	return m, t, storeBudget{timeout: cfg.StoreTimeout, obs: &storeObserver{tracer: t, metrics: m}}, nil
}

// observeRequest starts the span and the clock of one endpoint request; done
// records its status in both.
func (s *Server) observeRequest(w http.ResponseWriter, r *http.Request, endpoint string) (http.ResponseWriter, *http.Request, func()) {
	var span trace.Span
	if s.tracer != nil {
		var ctx context.Context
		ctx, span = startRequestSpan(s.tracer, r, endpoint)
		r = r.WithContext(ctx)
	}
	rec := &statusRecorder{ResponseWriter: w}
	start := time.Now()
	return rec, r, func() {
		status := rec.status
		if status == 0 {
			status = http.StatusOK // net/http's implicit answer
		}
		if span != nil {
			endRequestSpan(span, status)
		}
		s.metrics.request(endpoint, status, time.Since(start))
	}
}
