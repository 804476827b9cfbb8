package main

// This file serves the Prometheus metrics on their own listener
// (-metrics-addr), apart from the public one: scrapers reach it on a
// private network, and nothing about it is exposed to OAuth clients.

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newMetricsRegistry is the registry of the standalone server: the
// authorization server's and the /mcp verifier's collectors (README
// "Metrics"), plus the Go runtime's and the process's.
func newMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// metricsRegisterer is Config.Metrics and VerifierOptions.Metrics: the
// registry when -metrics-addr is set, else nil (an untyped nil: a nil
// *Registry in the interface would be a non-nil Registerer).
func (o *options) metricsRegisterer() prometheus.Registerer {
	if o.metrics == nil {
		return nil
	}
	return o.metrics
}

// serveMetrics serves reg at /metrics on ln until the returned server is
// closed.
func serveMetrics(ln net.Listener, reg *prometheus.Registry, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Timeout:  10 * time.Second,
	}))
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Warn("metrics listener stopped", "err", err)
		}
	}()
	return hs
}
