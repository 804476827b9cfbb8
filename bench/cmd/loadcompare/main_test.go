package main

import (
	"fmt"
	"io"
	"os"
	"testing"
)

// TestMain lets the test binary stand in for the servers it starts (see
// startServer), as the command does.
func TestMain(m *testing.M) {
	if kind := os.Getenv(serveEnv); kind != "" {
		if err := serve(kind); err != nil {
			fmt.Fprintln(os.Stderr, "loadcompare server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkLoadCompareSmoke runs every mode of the command for a fraction
// of a second, so that CI keeps it working: each server starts, every
// flow succeeds (any failed request fails the run), the tables print.
// Measurements come from `go run ./cmd/loadcompare -all` (README.md).
func BenchmarkLoadCompareSmoke(b *testing.B) {
	out := io.Discard
	if testing.Verbose() {
		out = os.Stdout
	}
	for b.Loop() {
		err := run([]string{"-mode", "middleware,introspect,refresh,sqlite,scaling,standalone", "-duration", "100ms",
			"-rounds", "1", "-workers", "4", "-sqlite-workers", "8", "-standalone-duration", "1s", "-repo", "../../.."}, out)
		if err != nil {
			b.Fatal(err)
		}
	}
}
