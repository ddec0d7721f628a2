package chaos_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
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

// row is one scenario's line of the table.
type row struct {
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
}

var (
	rowsMu sync.Mutex
	rows   []row
)

func record(t *testing.T, r row) {
	r.failed, r.short = t.Failed(), !*full
	rowsMu.Lock()
	rows = append(rows, r)
	rowsMu.Unlock()
	t.Logf("%s: runs %d, faults %d, requests %d, lost %d, applied twice %d, out of order %d, recovered in %v; %s",
		r.scenario, r.runs, r.faults, r.requests, r.lost, r.twice, r.outOfOrder, r.recover.Round(10*time.Millisecond), r.note)
}

func table() string {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	form := "full"
	if !*full {
		form = "reduced"
	}
	fmt.Fprintf(&b, "\nchaos scenarios (%s form)\n", form)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	slices.SortStableFunc(rows, func(a, b row) int { return strings.Compare(a.scenario, b.scenario) })
	fmt.Fprintln(tw, "scenario\truns\tkills/faults\trequests\tlost\tapplied twice\tout of order\ttime to recover\tresult\t")
	for _, r := range rows {
		res := "PASS"
		if r.failed {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t%s\t\n", r.scenario, r.runs, r.faults, r.requests, r.lost, r.twice, r.outOfOrder,
			r.recover.Round(100*time.Millisecond), res)
	}
	tw.Flush()
	for _, r := range rows {
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
