package mcpauth

// This file implements the server's Prometheus metrics. Labels carry only
// bounded, non-identifying values (endpoint, status code, grant type, store
// operation): never a subject, a client id or a token.

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names, documented in README.md ("Metrics").
const (
	metricRequests      = "mcpauth_http_requests_total"
	metricDuration      = "mcpauth_http_request_duration_seconds"
	metricTokens        = "mcpauth_tokens_issued_total"
	metricRefreshReuse  = "mcpauth_refresh_reuse_detected_total"
	metricLoginFailures = "mcpauth_login_failures_total"
	metricRateLimited   = "mcpauth_rate_limited_total"
	metricStoreDuration = "mcpauth_store_call_duration_seconds"
	metricStoreErrors   = "mcpauth_store_errors_total"
	metricVerifierCache = "mcpauth_verifier_cache_total"
	metricJWKSFetches   = "mcpauth_jwks_fetches_total"
)

// serverMetrics are the authorization server's collectors. A nil
// *serverMetrics records nothing, so hooks need no checks.
type serverMetrics struct {
	registry      prometheus.Gatherer // what MetricsHandler serves; nil: not servable
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	tokens        *prometheus.CounterVec
	refreshReuse  prometheus.Counter
	loginFailures *prometheus.CounterVec
	rateLimited   *prometheus.CounterVec
	storeDuration *prometheus.HistogramVec
	storeErrors   *prometheus.CounterVec
}

// newServerMetrics registers the server's collectors with reg; nil reg
// means a registry of the server's own (served by MetricsHandler).
// Collectors already registered by another Server on the same registry
// are shared, so replicas in one process add up.
func newServerMetrics(reg prometheus.Registerer) (*serverMetrics, error) {
	m := &serverMetrics{}
	if reg == nil {
		r := prometheus.NewRegistry()
		reg, m.registry = r, r
	} else if g, ok := reg.(prometheus.Gatherer); ok {
		m.registry = g
	}
	var err error
	m.requests, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricRequests, Help: "Requests answered by the authorization server, by endpoint and HTTP status code.",
	}, []string{"endpoint", "code"}), err)
	m.duration, err = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: metricDuration, Help: "Time to answer a request, by endpoint.", Buckets: prometheus.DefBuckets,
	}, []string{"endpoint"}), err)
	m.tokens, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricTokens, Help: "Access tokens issued at the token endpoint, by grant type (RFC 6749 §4.1.3, §6).",
	}, []string{"grant_type"}), err)
	m.refreshReuse, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: metricRefreshReuse, Help: "Rotated refresh tokens presented again; each revokes its grant (OAuth 2.1 §4.3.1).",
	}), err)
	m.loginFailures, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricLoginFailures, Help: "Failed sign-ins on the built-in login page, by reason (invalid_credentials, throttled).",
	}, []string{"reason"}), err)
	m.rateLimited, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricRateLimited, Help: "Requests refused by a rate limit (429), by endpoint.",
	}, []string{"endpoint"}), err)
	m.storeDuration, err = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: metricStoreDuration, Help: "Time of a store call, by operation.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"op"}), err)
	m.storeErrors, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricStoreErrors, Help: "Store calls that failed (not counting not-found and the store's single-use refusals), by operation.",
	}, []string{"op"}), err)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c with reg, or returns the collector already there
// under the same description. A previous error passes through.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, prev error) (C, error) {
	if prev != nil {
		return c, prev
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

func (m *serverMetrics) request(endpoint string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(endpoint).Observe(d.Seconds())
}

// event counts the audit events that are metrics too.
func (m *serverMetrics) event(t EventType) {
	if m == nil {
		return
	}
	switch t {
	case EventTokenIssued:
		m.tokens.WithLabelValues("authorization_code").Inc()
	case EventTokenRefreshed:
		m.tokens.WithLabelValues("refresh_token").Inc()
	case EventRefreshReuseDetected:
		m.refreshReuse.Inc()
	}
}

func (m *serverMetrics) loginFailure(reason string) {
	if m != nil {
		m.loginFailures.WithLabelValues(reason).Inc()
	}
}

func (m *serverMetrics) rateLimit(endpoint string) {
	if m != nil {
		m.rateLimited.WithLabelValues(endpoint).Inc()
	}
}

// storeCall records one store call. Not-found and the single-use refusals
// are answers, not failures.
func (m *serverMetrics) storeCall(op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.storeDuration.WithLabelValues(op).Observe(d.Seconds())
	if err != nil && !isStoreAnswer(err) {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

// isStoreAnswer tells the errors by which a store answers a question (no
// such record, already used) from failures.
func isStoreAnswer(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCodeReplayed) || errors.Is(err, store.ErrRefreshReused) ||
		errors.Is(err, store.ErrConflict)
}

// MetricsHandler serves the server's Prometheus metrics in the exposition
// format. With Config.Metrics nil they live in a registry of the server's
// own; with a Config.Metrics that is also a prometheus.Gatherer (a
// *prometheus.Registry) that registry is served. With another Registerer,
// serve its registry yourself: MetricsHandler then answers 404.
func (s *Server) MetricsHandler() http.Handler {
	if s.metrics == nil || s.metrics.registry == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}

// endpointLabel names a route for metrics and spans: its path below the
// issuer, or the well-known document it serves.
func (s *Server) endpointLabel(path string) string {
	for _, wk := range []string{wellKnownAS, wellKnownOIDC} {
		if strings.HasPrefix(path, wk) || strings.HasPrefix(path, s.basePath+wk) {
			return wk
		}
	}
	return strings.TrimPrefix(path, s.basePath)
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// write deadlines of the audit stream).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// verifierMetrics are a Verifier's collectors; nil records nothing.
type verifierMetrics struct {
	cache *prometheus.CounterVec
	jwks  *prometheus.CounterVec
}

func newVerifierMetrics(reg prometheus.Registerer) (*verifierMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &verifierMetrics{}
	var err error
	m.cache, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricVerifierCache, Help: "Token verifications answered from the verifier's cache (hit) or verified (miss).",
	}, []string{"result"}), err)
	m.jwks, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricJWKSFetches, Help: "Fetches of the authorization server's JWK Set by the verifier, by result (ok, error).",
	}, []string{"result"}), err)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (m *verifierMetrics) cacheLookup(hit bool) {
	if m == nil {
		return
	}
	if hit {
		m.cache.WithLabelValues("hit").Inc()
	} else {
		m.cache.WithLabelValues("miss").Inc()
	}
}

func (m *verifierMetrics) jwksFetch(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.jwks.WithLabelValues("error").Inc()
	} else {
		m.jwks.WithLabelValues("ok").Inc()
	}
}
