package apibench

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// The goals of issue 16.
const (
	goalRatio     = 0.8                   // creates/s over pgbench's TPS
	goalImmediate = 15 * time.Millisecond // median of a process_immediately call
)

type report struct {
	cfg              Config
	cpus             int
	pgVersion        string
	syncCommit       string
	total            time.Duration
	pgbench, creates []measurement
	immediate        []measurement
	baseImmediate    []measurement // the base build's calls, alternated with immediate's (Config.Base)
	commits          []measurement // one latency each: commitLatency
}

func (r *report) print(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "\nWeb API (provisioner serve) vs pgbench: %d callers / clients, %v each, %d rounds alternating, PostgreSQL %s (synchronous_commit %s), %d CPUs\n",
		c.Concurrency, c.Duration, c.Rounds, r.pgVersion, r.syncCommit, r.cpus)
	fmt.Fprintf(w, "fleet %d smartcards; pgbench -i -s %d; %d process_immediately calls per round against cas-simulator with no latency\n\n",
		c.Cards, c.Scale, c.Immediate)
	runs := []struct {
		name string
		ms   []measurement
	}{
		{"pgbench TPC-B-like (tx)", r.pgbench},
		{"API creates, add_services", r.creates},
		{"API process_immediately, one at a time", r.immediate},
		{"base build: process_immediately", r.baseImmediate},
	}
	const row = "%-6s %-40s %8s %9s %8s %8s %8s %11s %9s %9s %9s\n"
	fmt.Fprintf(w, row, "ROUND", "RUN", "WALL", "PER SEC", "P50", "P90", "P99", "CLIENT CPU", "SERVE CPU", "PG CPU", "CPU µs/1")
	for i := range c.Rounds {
		for _, run := range runs {
			if i >= len(run.ms) {
				continue
			}
			m := run.ms[i]
			fmt.Fprintf(w, row, fmt.Sprint(i+1), run.name, secs(m.wall), fmt.Sprintf("%.0f", m.rate()),
				lat(m, 0.5), lat(m, 0.9), lat(m, 0.99), secs(m.clientCPU), secs(m.serverCPU), pgSecs(m.pgCPU), fmt.Sprintf("%.1f", m.cpuPer()))
		}
	}
	pgTPS := median(r.pgbench, func(m measurement) float64 { return m.rate() })
	creates := median(r.creates, func(m measurement) float64 { return m.rate() })
	p50 := time.Duration(median(r.immediate, func(m measurement) float64 { return float64(m.percentile(0.5)) }))
	p90 := time.Duration(median(r.immediate, func(m measurement) float64 { return float64(m.percentile(0.9)) }))
	pgCPU := median(r.pgbench, func(m measurement) float64 { return m.cpuPer() })
	createCPU := median(r.creates, func(m measurement) float64 { return m.cpuPer() })
	fmt.Fprintln(w)
	fmt.Fprintf(w, "medians: pgbench %.0f TPS (%.1f µs CPU per transaction, pgbench + PostgreSQL); creates %.0f/s (%.1f µs CPU per create: callers + serve + PostgreSQL)\n",
		pgTPS, pgCPU, creates, createCPU)
	commit := time.Duration(median(r.commits, func(m measurement) float64 { return float64(m.percentile(0.5)) }))
	fmt.Fprintf(w, "process_immediately: median of the rounds' p50 %s, of their p90 %s; one commit of one client (pgbench -c 1, one INSERT): %s,\n",
		ms(p50), ms(p90), ms(commit))
	if commit > 0 {
		fmt.Fprintf(w, "so the p50 is %.1f commits; a call that sends waits for 1, its insert's (docs/web-api.md, throughput)\n\n", float64(p50)/float64(commit))
	}
	ratio := 0.0
	if pgTPS > 0 {
		ratio = creates / pgTPS
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GOAL\t\tBASELINE (same run)\tMEASURED\t")
	fmt.Fprintf(tw, "API creates/s at concurrency %d / pgbench TPS\t>= %.2f\t%.0f TPS\t%.0f creates/s = %.2f\t%s\n",
		c.Concurrency, goalRatio, pgTPS, creates, ratio, verdict(ratio >= goalRatio))
	fmt.Fprintf(tw, "process_immediately p50 (simulator, no latency)\t< %s\t\t%s\t%s\n", ms(goalImmediate), ms(p50), verdict(p50 < goalImmediate))
	tw.Flush()
	if len(r.baseImmediate) > 0 {
		base := time.Duration(median(r.baseImmediate, func(m measurement) float64 { return float64(m.percentile(0.5)) }))
		baseCPU := median(r.baseImmediate, func(m measurement) float64 {
			return float64(m.serverCPU) / float64(time.Microsecond) / float64(max(1, m.n))
		})
		cpu := median(r.immediate, func(m measurement) float64 {
			return float64(m.serverCPU) / float64(time.Microsecond) / float64(max(1, m.n))
		})
		fmt.Fprintf(w, "\nbase build %s, its calls alternated with this build's: p50 %s against this build's %s (%.2fx the base's);\n"+
			"serve's CPU per call %.0f µs in the base build, %.0f µs in this one\n", c.Base, ms(base), ms(p50), float64(p50)/float64(max(1, base)), baseCPU, cpu)
	}
	fmt.Fprintf(w, "\nCPU: client = pgbench, or the bench's callers (this process); serve = provisioner serve; PG = the database's backends,\n"+
		"walwriter, checkpointer and background writer (polled: a little low). bench took %s.\n", secs(r.total))
}

func lat(m measurement, p float64) string {
	if len(m.latencies) == 0 {
		return "-"
	}
	return ms(m.percentile(p))
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// median of f over ms; 0 for none.
func median(ms []measurement, f func(measurement) float64) float64 {
	if len(ms) == 0 {
		return 0
	}
	v := make([]float64, len(ms))
	for i, m := range ms {
		v[i] = f(m)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[n/2]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func pgSecs(d time.Duration) string {
	if d < 0 {
		return "?"
	}
	return secs(d)
}
