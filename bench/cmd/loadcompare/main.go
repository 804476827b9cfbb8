// Command loadcompare reproduces issue 12's comparison table: mcpauth
// beside the Go stacks a developer would otherwise pick, each comparison
// interleaved (A B A B …) on the same machine in one run, printing a
// markdown table with the ratios.
//
//	go run ./cmd/loadcompare -all                 # everything below (about three minutes)
//	go run ./cmd/loadcompare -mode middleware     # RequireMCPAuth vs keyfunc+golang-jwt, jwx, go-sdk (in process)
//	go run ./cmd/loadcompare -mode introspect     # /introspect over loopback vs ory/fosite (HMAC tokens), 16 workers
//	go run ./cmd/loadcompare -mode refresh        # /token refresh vs fosite, 16 workers
//	go run ./cmd/loadcompare -mode sqlite         # /token refresh on store/sqlite vs fosite in memory, 64 workers
//	go run ./cmd/loadcompare -mode scaling        # /token refresh on store/sqlite at 1, 4, 16, 64 workers
//	go run ./cmd/loadcompare -mode standalone     # cmd/mcp-auth-server on SQLite: full flows + refresh loops, 64 clients
//
// Servers run as subprocesses (this program with LOADCOMPARE_SERVE set), so that the
// server CPU per request (getrusage in the server) excludes the load
// generator. Everything listens on 127.0.0.1 only.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/bench"
)

// serveEnv, when set, makes this program one of the servers under test
// (a subprocess started by startServer).
const serveEnv = "LOADCOMPARE_SERVE"

func main() {
	if kind := os.Getenv(serveEnv); kind != "" {
		if err := serve(kind); err != nil {
			fmt.Fprintln(os.Stderr, "loadcompare -serve:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadcompare:", err)
		os.Exit(1)
	}
}

type config struct {
	duration      time.Duration
	rounds        int
	workers       int
	sqliteWorkers int
	standalone    time.Duration
	repo          string
	out           io.Writer
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("loadcompare", flag.ContinueOnError)
	mode := fs.String("mode", "", "one of middleware, introspect, refresh, sqlite, scaling, standalone (comma-separated)")
	all := fs.Bool("all", false, "run every mode: middleware, introspect, refresh, sqlite, scaling, standalone")
	c := config{out: out}
	fs.DurationVar(&c.duration, "duration", 2*time.Second, "length of each contender's turn in a round")
	fs.IntVar(&c.rounds, "rounds", 3, "interleaved rounds (A B A B …)")
	fs.IntVar(&c.workers, "workers", 16, "concurrent clients for introspect and refresh")
	fs.IntVar(&c.sqliteWorkers, "sqlite-workers", 64, "concurrent clients for the sqlite and standalone modes")
	fs.DurationVar(&c.standalone, "standalone-duration", 30*time.Second, "length of the standalone load test")
	fs.StringVar(&c.repo, "repo", "..", "the mcpauth repository (for -mode standalone, which builds cmd/mcp-auth-server)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	modes := strings.Split(*mode, ",")
	if *all {
		modes = []string{"middleware", "introspect", "refresh", "sqlite", "scaling", "standalone"}
	}
	if *mode == "" && !*all {
		fs.Usage()
		return fmt.Errorf("give -mode or -all")
	}
	fmt.Fprintf(c.out, "loadcompare: %s/%s, %d CPUs, GOMAXPROCS %d, %s; load average at start: %s\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadavg())
	ctx := context.Background()
	for _, m := range modes {
		var err error
		switch m {
		case "middleware":
			err = middleware(ctx, c)
		case "introspect":
			err = loopback(ctx, c, "introspect", serveMCPAuth, c.workers, 1.3)
		case "refresh":
			err = loopback(ctx, c, "refresh", serveMCPAuth, c.workers, 1.0)
		case "sqlite":
			err = loopback(ctx, c, "refresh", serveMCPAuthSQLite, c.sqliteWorkers, 0.5)
		case "scaling":
			err = scaling(ctx, c)
		case "standalone":
			err = standalone(ctx, c)
		default:
			err = fmt.Errorf("unknown mode %q", m)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
	}
	fmt.Fprintf(c.out, "load average at end: %s\n", loadavg())
	return nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// middleware runs bench.Comparison for c.duration per case, interleaved.
func middleware(ctx context.Context, c config) error {
	fmt.Fprintln(c.out, "### Middleware, in process (ns per request, interleaved on the same requests)")
	fmt.Fprintln(c.out)
	fmt.Fprintln(c.out, "| alg | token | mcpauth | keyfunc+golang-jwt | jwx | go-sdk | mcpauth vs keyfunc | vs jwx | vs go-sdk | goal |")
	fmt.Fprintln(c.out, "|---|---|---|---|---|---|---|---|---|---|")
	for _, alg := range []string{"ES256", "RS256"} {
		a, err := bench.NewAuthority(alg)
		if err != nil {
			return err
		}
		for _, first := range []bool{true, false} {
			cmp, err := bench.NewComparison(ctx, a, first)
			if err != nil {
				a.Close()
				return err
			}
			deadline := time.Now().Add(c.duration * time.Duration(c.rounds))
			for time.Now().Before(deadline) {
				for range 64 {
					if err := cmp.Step(); err != nil {
						cmp.Close()
						a.Close()
						return err
					}
				}
			}
			cmp.Close()
			mine := float64(cmp.PerRequest(0))
			row := fmt.Sprintf("| %s | %s |", alg, map[bool]string{true: "first sight", false: "repeated"}[first])
			for i := range cmp.Names {
				row += fmt.Sprintf(" %s |", fmtNs(cmp.PerRequest(i)))
			}
			for i := 1; i < len(cmp.Names); i++ {
				peer := float64(cmp.PerRequest(i))
				if first {
					row += fmt.Sprintf(" %.2f× time |", mine/peer)
				} else {
					row += fmt.Sprintf(" %.1f× faster |", peer/mine)
				}
			}
			if first {
				row += " ≤ 1.0× vs keyfunc |"
			} else {
				row += " ≥ 20× faster vs every peer |"
			}
			fmt.Fprintln(c.out, row)
		}
		a.Close()
	}
	fmt.Fprintln(c.out)
	return nil
}

func fmtNs(d time.Duration) string {
	if d >= 10*time.Microsecond {
		return fmt.Sprintf("%.1f µs", float64(d)/1e3)
	}
	return fmt.Sprintf("%.2f µs", float64(d)/1e3)
}

// loopback compares one endpoint of an mcpauth server (kind) with fosite
// over loopback HTTP: rounds of c.duration each, mcpauth and fosite
// alternating, every worker holding its own grant on each server.
func loopback(ctx context.Context, c config, endpoint, kind string, workers int, goal float64) error {
	mine, err := startServer(kind, kind, workers)
	if err != nil {
		return err
	}
	defer mine.stop()
	peer, err := startServer(serveFosite, "fosite", workers)
	if err != nil {
		return err
	}
	defer peer.stop()
	servers := []*server{mine, peer}
	states := make([][]tokens, len(servers))
	all := make([]*stats, len(servers))
	for i, s := range servers {
		all[i] = &stats{name: s.name}
		for range workers {
			t, err := s.grant(ctx)
			if err != nil {
				return err
			}
			states[i] = append(states[i], t)
		}
	}
	op := func(s *server) func(context.Context, *tokens) error {
		if endpoint == "introspect" {
			return s.introspect
		}
		return s.refresh
	}
	warm := min(c.duration/4, 500*time.Millisecond)
	for i, s := range servers {
		if err := round(ctx, s, &stats{}, states[i], warm, op(s)); err != nil {
			return err
		}
	}
	for r := range c.rounds {
		for j := range servers {
			i := (j + r) % len(servers) // alternate who goes first
			if err := round(ctx, servers[i], all[i], states[i], c.duration, op(servers[i])); err != nil {
				return err
			}
		}
	}
	store := "memory"
	if kind == serveMCPAuthSQLite {
		store = "SQLite (store/sqlite, WAL, synchronous=FULL)"
	}
	title := map[string]string{"introspect": "/introspect", "refresh": "/token refresh_token"}[endpoint]
	fmt.Fprintf(c.out, "### %s over loopback HTTP, %d workers, mcpauth on %s vs fosite (HMAC, memory), %d × %s interleaved rounds\n\n",
		title, workers, store, c.rounds, c.duration)
	fmt.Fprintln(c.out, "| server | requests | req/s | server CPU µs/req | p50 | p99 |")
	fmt.Fprintln(c.out, "|---|---|---|---|---|---|")
	for _, st := range all {
		fmt.Fprintf(c.out, "| %s | %d | %.0f | %.0f | %s | %s |\n", st.name, st.requests, st.rps(), st.cpuPerRequest(),
			fmtDur(st.pct(0.50)), fmtDur(st.pct(0.99)))
	}
	ratio := all[0].rps() / all[1].rps()
	verdict := "met"
	if ratio < goal {
		verdict = "not met"
	}
	fmt.Fprintf(c.out, "\nratio req/s mcpauth / fosite: **%.2f×** (goal ≥ %.1f×: %s); server CPU per request %.0f vs %.0f µs\n\n",
		ratio, goal, verdict, all[0].cpuPerRequest(), all[1].cpuPerRequest())
	return nil
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	}
}

// scaling runs /token refresh on store/sqlite with 1, 4, 16 and
// c.sqliteWorkers workers, interleaved in rounds: does throughput grow
// with concurrency (issue 12 item 3)?
func scaling(ctx context.Context, c config) error {
	s, err := startServer(serveMCPAuthSQLite, "mcpauth-sqlite", c.sqliteWorkers)
	if err != nil {
		return err
	}
	defer s.stop()
	var states []tokens
	for range c.sqliteWorkers {
		t, err := s.grant(ctx)
		if err != nil {
			return err
		}
		states = append(states, t)
	}
	var ns []int
	for _, n := range []int{1, 4, 16, c.sqliteWorkers} {
		if n <= c.sqliteWorkers && !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	all := make([]*stats, len(ns))
	for i := range all {
		all[i] = &stats{}
	}
	if err := round(ctx, s, &stats{}, states, min(c.duration/4, 500*time.Millisecond), s.refresh); err != nil {
		return err
	}
	for r := range c.rounds {
		for j := range ns {
			i := (j + r) % len(ns)
			if err := round(ctx, s, all[i], states[:ns[i]], c.duration, s.refresh); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(c.out, "### /token refresh_token on SQLite (store/sqlite) by concurrency, %d × %s interleaved rounds\n\n", c.rounds, c.duration)
	fmt.Fprintln(c.out, "| workers | req/s | vs 1 worker | server CPU µs/req | p50 | p99 |")
	fmt.Fprintln(c.out, "|---|---|---|---|---|---|")
	for i, st := range all {
		fmt.Fprintf(c.out, "| %d | %.0f | %.2f× | %.0f | %s | %s |\n", ns[i], st.rps(), st.rps()/all[0].rps(),
			st.cpuPerRequest(), fmtDur(st.pct(0.5)), fmtDur(st.pct(0.99)))
	}
	fmt.Fprintln(c.out)
	return nil
}
