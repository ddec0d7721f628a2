package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/reconcile"
)

const reconcileUsage = `reconcile (--all | --subscription N | --smartcard S... | --file FILE) [flags]

Compares what the CRM expects of each card (the entitlements of the reference data,
entitlements.csv) with what the CAS gateway holds, writes the drift report (a CSV in
--reports) and creates the requests that set it right: missing products ADD_PRODUCTS,
extra ones CANCEL_PRODUCTS, a wrong or missing pairing PAIR, an unexpected one UNPAIR.
A card DISABLED on the CAS or unknown to it is reported, not corrected; a card with a
PENDING request is skipped as busy. The corrections go out with the next processing
run, or at once with --process. If they would touch more than --max-corrections of the
cards checked, nothing is created and the command exits 3, unless --force.
Exit codes: 0 done, 1 failed (nothing created), 2 bad usage, 3 over --max-corrections
or drift the instruction rules refused to correct (see the report).`

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return errors.New("empty smartcard serial number")
	}
	*l = append(*l, v)
	return nil
}

func runReconcile(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "reconcile", reconcileUsage)
	dbf := addDBFlags(fs)
	g := addGatewayFlags(fs)
	var scope reconcile.Scope
	var cards stringList
	var priority, maxCorr, reports string
	var process bool
	opts := reconcile.Options{}
	fs.BoolVar(&scope.All, "all", false, "every card of the entitlements")
	fs.StringVar(&scope.Subscription, "subscription", "", "the cards installed on subscription `N` (its number)")
	fs.Var(&cards, "smartcard", "this smartcard (serial number); repeat for more")
	fs.StringVar(&scope.File, "file", "", "the smartcards listed in `FILE`: one serial number per line (or a CSV whose first column is smartcard_serial_number)")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "the preview: the report and the counts, nothing created")
	fs.StringVar(&priority, "priority", "REGULAR", "the corrections' priority: REGULAR or EXPRESS")
	fs.BoolVar(&process, "process", false, "a processing run right after, to send the corrections at once")
	fs.StringVar(&maxCorr, "max-corrections", "", "at most this share of the cards checked may be corrected, e.g. 5% (default: jobs.reconcile.max_corrections, 5%)")
	fs.BoolVar(&opts.Force, "force", false, "create the corrections even over --max-corrections")
	fs.StringVar(&reports, "reports", "", "the drift reports' folder (default: jobs.reconcile.reports, else ./reports)")
	fs.IntVar(&opts.Concurrency, "query-concurrency", 4, "chunks of 500 cards asked of the gateway at once")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("reconcile takes no arguments, got %q", fs.Args())
	}
	scope.Smartcards = cards
	if scope.File != "" {
		listed, err := readCardFile(scope.File)
		if err != nil {
			return usagef("--file: %v", err)
		}
		scope.Smartcards = append(scope.Smartcards, listed...)
	}
	if err := scope.Check(); err != nil {
		return usagef("%v", err)
	}
	opts.Scope = scope
	var err error
	if opts.Priority, err = reconcile.ParsePriority(priority); err != nil {
		return usagef("--priority: %v", err)
	}
	if opts.Concurrency < 1 || opts.Concurrency > 64 {
		return usagef("--query-concurrency %d: must be 1 to 64", opts.Concurrency)
	}
	env, log, err := dbf.configure(env)
	if err != nil {
		return err
	}
	// The configuration's [jobs.reconcile] settings stand in for the flags not given.
	opts.MaxCorrections, opts.ReportsDir = reconcile.DefaultMaxCorrections, "reports"
	if c := dbf.cfg; c != nil {
		opts.MaxCorrections, opts.ReportsDir = c.Reconcile.MaxCorrections, c.Reconcile.Reports
	}
	if maxCorr != "" {
		if opts.MaxCorrections, err = reconcile.ParseMaxCorrections(maxCorr); err != nil {
			return usagef("--max-corrections: %v", err)
		}
	}
	if reports != "" {
		opts.ReportsDir = reports
	}
	if process {
		if err := g.check(env); err != nil {
			return err
		}
	} else if err := g.config(env).Check(); err != nil {
		return usagef("gateway: %v", err)
	}
	dbf.conns = max(opts.Concurrency+2, g.opts.Conns())
	db, err := dbf.open(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	client, err := dispatcher.NewClient(g.config(env))
	if err != nil {
		return usagef("gateway: %v", err)
	}
	sum, err := reconcile.Run(ctx, db, client, log, opts)
	if sum.RunID != 0 {
		fmt.Fprintln(env.Stdout, sum.Line())
	}
	var se *reconcile.ScopeError
	switch {
	case errors.As(err, &se):
		return usagef("%v", err)
	case err != nil:
		return err
	case sum.Capped:
		return &rejectedError{sum.CapMessage()}
	}
	if process && !opts.DryRun && sum.Counts.Corrections > 0 {
		d, err := g.dispatcher(env, db, log, g.opts)
		if err != nil {
			return err
		}
		ps, err := d.Run(ctx)
		fmt.Fprintln(env.Stdout, jobs.ProcessResult(ps).Summary)
		if err != nil {
			return err
		}
		if ps.Rejected > 0 {
			return &rejectedError{fmt.Sprintf("%d requests rejected", ps.Rejected)}
		}
	}
	if sum.Counts.Uncorrectable > 0 {
		return &rejectedError{fmt.Sprintf("%d drifts the instruction rules refused to correct: see %s", sum.Counts.Uncorrectable, sum.Report)}
	}
	return nil
}

// readCardFile reads the serial numbers of a --file: one a line; blank lines and
// lines starting with # are skipped, and so is a header smartcard_serial_number; of a
// CSV line, the first field.
func readCardFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if i := strings.IndexByte(s, ','); i >= 0 {
			s = strings.TrimSpace(s[:i])
		}
		s = strings.Trim(s, `"`)
		if s == "" || strings.HasPrefix(s, "#") || strings.EqualFold(s, "smartcard_serial_number") {
			continue
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s lists no smartcard", path)
	}
	return out, nil
}
