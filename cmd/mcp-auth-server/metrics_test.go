package main

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsListener: -metrics-addr serves the documented metrics on a
// listener of its own after a sign-in; the public listener has no /metrics.
func TestMetricsListener(t *testing.T) {
	s := startRun(t, "-store", "memory:", "-user", "carol:s3cret-pass", "-metrics-addr", "127.0.0.1:0")
	var metricsURL string
	sc := bufio.NewScanner(strings.NewReader(s.banner))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Metrics:"); ok {
			metricsURL = strings.TrimSpace(v)
		}
	}
	if metricsURL == "" {
		t.Fatalf("no Metrics: line in the banner:\n%s", s.banner)
	}
	signIn(t, s.issuer, "carol", "s3cret-pass")
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`mcpauth_http_requests_total{code="200",endpoint="/login"} 1`,
		`mcpauth_http_requests_total{code="201",endpoint="/register"} 1`,
		`# TYPE mcpauth_store_call_duration_seconds histogram`,
		`# TYPE go_goroutines gauge`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "carol") {
		t.Error("the metrics name the user")
	}
	pub, err := http.Get(s.issuer + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	pub.Body.Close()
	if pub.StatusCode == http.StatusOK {
		t.Error("the public listener serves /metrics")
	}
}

// TestMetricsOffByDefault: without -metrics-addr there is no metrics line.
func TestMetricsOffByDefault(t *testing.T) {
	s := startRun(t, "-store", "memory:")
	if strings.Contains(s.banner, "Metrics:") {
		t.Fatalf("metrics served without -metrics-addr:\n%s", s.banner)
	}
}
