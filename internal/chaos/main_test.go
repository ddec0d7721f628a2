package chaos_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/provisioner/provisioner/cli"
)

// childEnv makes the test binary the provisioner: TestMain then runs cli.Main on
// its arguments instead of the tests. The scenarios start it as the program they
// kill, cut off and restart.
const childEnv = "PROVISIONER_CHAOS_CHILD"

var (
	full      = flag.Bool("chaos", false, "run the full scenarios (make chaos); without it, their reduced forms")
	tableFile = flag.String("chaos.table", "", "also write the table of the scenarios to this file")
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Main(ctx, cli.OSEnv(), os.Args[1:])
		stop()
		os.Exit(code)
	}
	flag.Parse()
	code := m.Run()
	stopCluster()
	if t := table(); t != "" {
		fmt.Print(t)
		if *tableFile != "" {
			os.WriteFile(*tableFile, []byte(t), 0o644)
		}
	}
	os.Exit(code)
}

// scenarios are the tests that record a row, in the table's order: one that
// records none (skipped, or failed before its checks) still gets its line, so that
// the table never leaves a scenario out in silence.
var scenarios = []struct{ test, label string }{
	{"TestKill", "1 SIGKILL runs"},
	{"TestPostgresRestart", "2 PG restart fast/immediate"},
	{"TestTerminateBackend", "3 pg_terminate_backend"},
	{"TestPostgresUnreachable", "4 PG unreachable"},
	{"TestConnectionExhaustion", "5 connections exhausted"},
	{"TestGatewayDown", "6 gateway down"},
	{"TestPriority", "7 EXPRESS stream at half the rate"},
	{"TestImportKill", "8 importers killed, 3 hosts"},
	{"TestHosts", "hosts: 3 netns, 1 link cut"},
}

// row is one scenario's line of the table.
type row struct {
	test          string // the test that recorded it
	scenario      string
	runs          int // runs of the program (processes started)
	faults        int // kills or faults injected
	requests      int
	lost          int // due requests neither COMPLETED nor REJECTED, or missing
	twice         int // command_ids applied twice at the gateway
	outOfOrder    int // commands applied after a later one of their smartcard
	recover       time.Duration
	note          string
	failed, short bool
	none          bool // recorded nothing: skipped, or failed before its checks
}

var (
	rowsMu sync.Mutex
	rows   []row
)

func record(t *testing.T, r row) {
	r.test, r.failed, r.short = t.Name(), t.Failed(), !*full
	rowsMu.Lock()
	rows = append(rows, r)
	rowsMu.Unlock()
	t.Logf("%s: runs %d, faults %d, requests %d, lost %d, applied twice %d, out of order %d, recovered in %v; %s",
		r.scenario, r.runs, r.faults, r.requests, r.lost, r.twice, r.outOfOrder, r.recover.Round(10*time.Millisecond), r.note)
}

func table() string {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	// The scenarios selected (-test.run, -test.skip) that recorded nothing.
	pattern := func(name string) *regexp.Regexp {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			re, _ := regexp.Compile(f.Value.String())
			return re
		}
		return nil
	}
	run, skip := pattern("test.run"), pattern("test.skip")
	var missing []row
	for _, sc := range scenarios {
		if (run != nil && !run.MatchString(sc.test)) || (skip != nil && skip.MatchString(sc.test)) {
			continue
		}
		if !slices.ContainsFunc(rows, func(r row) bool { return r.test == sc.test }) {
			missing = append(missing, row{test: sc.test, scenario: sc.label, none: true, note: sc.test + " skipped, or failed before its checks: see the log"})
		}
	}
	if len(rows)+len(missing) == 0 {
		return ""
	}
	all := append(slices.Clone(rows), missing...)
	var b strings.Builder
	form := "full"
	if !*full {
		form = "reduced"
	}
	fmt.Fprintf(&b, "\nchaos scenarios (%s form)\n", form)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	slices.SortStableFunc(all, func(a, b row) int { return strings.Compare(a.scenario, b.scenario) })
	fmt.Fprintln(tw, "scenario\truns\tkills/faults\trequests\tlost\tapplied twice\tout of order\ttime to recover\tresult\t")
	for _, r := range all {
		if r.none {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\tNO RESULT\t\n", r.scenario)
			continue
		}
		res := "PASS"
		if r.failed {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t%s\t\n", r.scenario, r.runs, r.faults, r.requests, r.lost, r.twice, r.outOfOrder,
			r.recover.Round(100*time.Millisecond), res)
	}
	tw.Flush()
	for _, r := range all {
		if r.note != "" {
			fmt.Fprintf(&b, "  %s: %s\n", r.scenario, r.note)
		}
	}
	return b.String()
}

// pick is the reduced or the full value of a size.
func pick[T any](reduced, fullValue T) T {
	if *full {
		return fullValue
	}
	return reduced
}
