package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provisioner/provisioner/internal/duration"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/store"
)

// leverUsage is each lever's usage line and what it does.
var leverUsage = map[string]string{
	ops.ActionHold: "requests hold [--reason TEXT] (NUMBER | filters | --all) [--dry-run | --yes | --expect N] [--as NAME]\n\n" +
		"Holds PENDING requests: not claimed until released, and each keeps the later\n" +
		"requests of its smartcard waiting (their order holds).",
	ops.ActionRelease: "requests release (NUMBER | filters | --all) [--dry-run | --yes | --expect N] [--as NAME]\n\n" +
		"Releases held requests: claimable again when due, in their card's order.",
	ops.ActionCancel: "requests cancel --reason TEXT (NUMBER | filters | --all) [--dry-run | --yes | --expect N] [--as NAME]\n\n" +
		"Cancels PENDING requests: REJECTED with E_CANCELLED and the reason; `requests retry`\n" +
		"puts them back like any rejection.",
	ops.ActionReschedule: "requests reschedule --at TIME (NUMBER | filters | --all) [--dry-run | --yes | --expect N] [--as NAME]\n\n" +
		"Sets the scheduled date of PENDING requests: not sent before TIME (RFC 3339,\n" +
		"\"2026-12-24 18:00:00\" UTC, 2026-12-24, now, or +2h, +1d from now). A backoff\n" +
		"after an unsettled send is cleared too.",
	ops.ActionPriority: "requests priority EXPRESS|REGULAR (NUMBER | filters | --all) [--dry-run | --yes | --expect N] [--as NAME]\n\n" +
		"Sets the priority of PENDING requests.",
}

const leverTail = "\n\nOne NUMBER needs no confirmation. With filters (those of `requests list`, PENDING\n" +
	"requests only) confirm with --yes, or with --expect N: refused unless exactly N\n" +
	"match; --dry-run says what would happen. A request in flight (claimed by a run\n" +
	"whose lease holds) is never touched: it is listed as skipped, with why.\n" +
	"Recorded in the audit trail (`provisioner audit list`) under --as NAME, default the login name."

// addAsFlag is --as, the operator every lever records in the audit trail.
func addAsFlag(fs *flag.FlagSet) *string {
	return fs.String("as", "", "the operator recorded in the audit trail (default: the login name)")
}

func runRequestsLever(ctx context.Context, env Env, action string, args []string) error {
	fs := newFlagSet(env, "requests "+action, leverUsage[action]+leverTail)
	dbf := addDBFlags(fs)
	ff := addFilterFlags(fs, false)
	as := addAsFlag(fs)
	all := fs.Bool("all", false, "every PENDING request (when no filter is given)")
	dryRun := fs.Bool("dry-run", false, "list what would be changed, change nothing")
	yes := fs.Bool("yes", false, "change whatever matches")
	expect := fs.Int("expect", -1, "change only if exactly this many match (the dry run's count)")
	var reason, at *string
	if action == ops.ActionCancel || action == ops.ActionHold {
		reason = fs.String("reason", "", "why (cancel: required, it becomes the error description)")
	}
	if action == ops.ActionReschedule {
		at = fs.String("at", "", "the new scheduled date")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	pos := fs.Args()
	lever := ops.Lever{Action: action}
	if action == ops.ActionPriority {
		if len(pos) == 0 {
			return usagef("requests priority: give EXPRESS or REGULAR")
		}
		lever.Priority, pos = strings.ToUpper(pos[0]), pos[1:]
	}
	if reason != nil {
		lever.Reason = strings.TrimSpace(*reason)
	}
	if at != nil {
		if *at == "" {
			return usagef("requests reschedule: give --at TIME")
		}
		t, err := parseAt(*at, env.now())
		if err != nil {
			return usagef("--at %v", err)
		}
		lever.At = t
	}
	if err := lever.Check(); err != nil {
		return usagef("requests %s: %v", action, err)
	}
	f, err := ff.filter(env.now())
	if err != nil {
		return err
	}
	expectSet := false
	fs.Visit(func(fl *flag.Flag) { expectSet = expectSet || fl.Name == "expect" })
	switch {
	case len(pos) > 1:
		return usagef("requests %s takes at most one request number, got %q", action, pos)
	case len(pos) == 1:
		n, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || n <= 0 {
			return usagef("%q is not a request number", pos[0])
		}
		if !f.Empty() || *all {
			return usagef("give a request number or filters, not both")
		}
		f.Number = n
	case f.Empty() && !*all:
		return usagef("give a request number, at least one filter, or --all for every PENDING request")
	case !f.Empty() && *all:
		return usagef("--all takes every PENDING request: give it without filters")
	case !*dryRun && !*yes && !expectSet:
		return usagef("%s changes every request that matches: run it with --dry-run first, then confirm with --yes, or with --expect N (the count the dry run gave)", action)
	}
	switch {
	case expectSet && *expect < 0:
		return usagef("--expect %d: must not be negative", *expect)
	case *yes && expectSet:
		return usagef("give --yes or --expect N, not both")
	}
	env, log, db, err := dbf.setUp(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	opts := ops.LeverOptions{DryRun: *dryRun, Expect: -1, Now: env.now(),
		Actor: ops.Actor{Operator: *as, Command: commandLine("requests "+action, args)}}
	if expectSet {
		opts.Expect = *expect
	}
	res, err := ops.Pull(ctx, db, f, lever, opts)
	var mismatch *ops.CountMismatchError
	if errors.As(err, &mismatch) {
		writeLeverTable(env.Stdout, action, res, true)
		return err
	}
	if err != nil {
		return err
	}
	writeLeverTable(env.Stdout, action, res, *dryRun)
	skipped := len(res.Outcomes) - res.Changed
	switch {
	case len(res.Outcomes) == 0:
		fmt.Fprintf(env.Stdout, "no PENDING request matches: nothing to %s\n", action)
	case *dryRun:
		fmt.Fprintf(env.Stdout, "%d requests match, %d would be changed, %d skipped (dry run: nothing changed; confirm with --expect %d)\n",
			len(res.Outcomes), res.Changed, skipped, len(res.Outcomes))
	default:
		fmt.Fprintf(env.Stdout, "%d requests changed (%s), %d skipped\n", res.Changed, leverDone[action], skipped)
		nums := res.Numbers()
		log.WithFields(map[string]any{"action": action, "changed": res.Changed, "skipped": skipped, "numbers": nums[:min(len(nums), 50)]}).Info("lever pulled")
	}
	return nil
}

var leverDone = map[string]string{
	ops.ActionHold: "held", ops.ActionRelease: "released", ops.ActionCancel: "cancelled: REJECTED, E_CANCELLED",
	ops.ActionReschedule: "rescheduled", ops.ActionPriority: "priority set",
}

func writeLeverTable(w io.Writer, action string, res ops.LeverResult, dry bool) {
	if len(res.Outcomes) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NUMBER\tTYPE\tPRIORITY\tSMARTCARD\tSCHEDULED\tOUTCOME")
	for _, o := range res.Outcomes {
		out := leverDone[action]
		if dry {
			out = "would be " + strings.SplitN(out, ":", 2)[0]
			if action == ops.ActionPriority {
				out = "would be set"
			}
		}
		if !o.Changed {
			out = "skipped: " + o.Skipped
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", o.Number, o.Type, o.Priority, orDash(smartcardName(o.Request)), rfc3339(o.ScheduledDate), out)
	}
	tw.Flush()
}

// parseAt reads reschedule's --at: "now", "+DURATION" from now (internal/duration:
// +90m, +2h, +1d), or a time as the filters take it (ops.ParseTime), but not an age,
// which would be in the past.
func parseAt(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.EqualFold(s, "now"):
		return now, nil
	case strings.HasPrefix(s, "+"):
		d, err := duration.Parse(s[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: %v", s, err)
		}
		return now.Add(d), nil
	}
	if _, err := duration.Parse(s); err == nil {
		return time.Time{}, fmt.Errorf("%q: give a time, now, or +%s for that long from now", s, s)
	}
	return ops.ParseTime(s, now)
}

// commandLine is the command as given, for the audit trail: its arguments quoted
// where they hold spaces.
func commandLine(name string, args []string) string {
	parts := []string{name}
	redactNext := false
	for _, a := range args {
		// The database URL may hold a password: never into the trail.
		switch {
		case redactNext:
			a, redactNext = store.Redact(a), false
		case strings.TrimLeft(a, "-") == "database-url":
			redactNext = true
		case strings.HasPrefix(strings.TrimLeft(a, "-"), "database-url="):
			a = "--database-url=" + store.Redact(strings.SplitN(a, "=", 2)[1])
		}
		if a == "" || strings.ContainsAny(a, " \t\"'") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
