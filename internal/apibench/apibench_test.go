package apibench

import (
	"strings"
	"testing"
	"time"
)

// TestPgbenchOutput: the figures are read from pgbench 15's own lines.
func TestPgbenchOutput(t *testing.T) {
	out := `transaction type: <builtin: TPC-B (sort of)>
scaling factor: 10
number of clients: 32
number of transactions actually processed: 17983
number of failed transactions: 0 (0.000%)
latency average = 17.715 ms
initial connection time = 60.332 ms
tps = 1806.385201 (without initial connection time)
`
	tps, tx, lat := tpsLine.FindStringSubmatch(out), txLine.FindStringSubmatch(out), latencyLine.FindStringSubmatch(out)
	if tps == nil || tps[1] != "1806.385201" || tx == nil || tx[1] != "17983" || lat == nil || lat[1] != "17.715" {
		t.Errorf("tps %q, transactions %q, latency %q", tps, tx, lat)
	}
}

func TestReport(t *testing.T) {
	lat := func(ds ...time.Duration) []time.Duration { return ds }
	r := &report{cfg: Config{Rounds: 1, Duration: time.Second, Concurrency: 32, Immediate: 3, Cards: 100, Scale: 10}, cpus: 2,
		pgbench:   []measurement{{wall: time.Second, n: 1000, tps: 1000, pgCPU: -1}},
		creates:   []measurement{{wall: time.Second, n: 900, latencies: lat(time.Millisecond), pgCPU: time.Second}},
		immediate: []measurement{{wall: time.Second, n: 3, latencies: lat(8*time.Millisecond, 9*time.Millisecond, 30*time.Millisecond)}},
		commits:   []measurement{{latencies: lat(4 * time.Millisecond)}},
	}
	var b strings.Builder
	r.print(&b)
	out := b.String()
	for _, want := range []string{"1000 TPS", "900 creates/s = 0.90  PASS", "9.0ms", "PASS", "2.2 commits"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestReportBase: with a base build, its p50, this build's, their ratio and each
// serve's CPU per call are printed; without one, none of it.
func TestReportBase(t *testing.T) {
	lat := func(ds ...time.Duration) []time.Duration { return ds }
	r := &report{cfg: Config{Rounds: 1, Duration: time.Second, Concurrency: 32, Immediate: 2, Cards: 100, Scale: 10, Base: "old/provisioner"}, cpus: 2,
		pgbench:       []measurement{{wall: time.Second, n: 1000, tps: 1000, pgCPU: -1}},
		creates:       []measurement{{wall: time.Second, n: 900, latencies: lat(time.Millisecond), pgCPU: time.Second}},
		immediate:     []measurement{{wall: time.Second, n: 2, latencies: lat(6*time.Millisecond, 7*time.Millisecond), serverCPU: 2 * time.Millisecond, pgCPU: -1}},
		baseImmediate: []measurement{{wall: time.Second, n: 2, latencies: lat(9*time.Millisecond, 10*time.Millisecond), serverCPU: 4 * time.Millisecond, pgCPU: -1}},
		commits:       []measurement{{latencies: lat(4 * time.Millisecond)}},
	}
	var b strings.Builder
	r.print(&b)
	out := b.String()
	for _, want := range []string{"base build old/provisioner", "p50 10.0ms against this build's 7.0ms (0.70x the base's)", "serve's CPU per call 2000 µs in the base build, 1000 µs in this one"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	r.cfg.Base, r.baseImmediate = "", nil
	b.Reset()
	r.print(&b)
	if strings.Contains(b.String(), "base build") {
		t.Errorf("report without a base build names one:\n%s", b.String())
	}
}
