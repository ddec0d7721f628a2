package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/instances"
	dur "github.com/provisioner/provisioner/internal/duration"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/ops"
)

const statusUsage = `status [--json] [--inbox DIR] [--config FILE] [--dead-after D] [--check [--due-warning 1h] [--due-critical 4h]]

The requests by state, type and priority, the oldest pending request, the inbox
backlog, the last run of each job (with a configuration: its schedule, and whether
it is overdue), the top error codes of the last day and the live instances (those
with no heartbeat for --dead-after are marked dead).

--check makes it a monitoring check (Nagios, Icinga...): one line saying what needs
a person, and the exit code says how bad: 0 OK, 1 WARNING (a file in the inbox's
failed/, the oldest due request waiting past --due-warning), 2 CRITICAL (a job
overdue, which needs --config; the oldest due request past --due-critical), 3 UNKNOWN
(the check could not be made: the database unreachable, a bad flag).`

func runStatus(ctx context.Context, env Env, args []string) error {
	check := slices.ContainsFunc(args, func(a string) bool { return a == "--check" || a == "-check" || strings.HasPrefix(a, "--check=") })
	err := status(ctx, env, args)
	var done *checkExit
	if !check || err == nil || errors.Is(err, flag.ErrHelp) || errors.As(err, &done) {
		return err
	}
	// A check that could not be made is UNKNOWN, whatever the reason, as monitoring
	// systems expect; the reason is its line.
	fmt.Fprintf(env.Stdout, "PROVISIONER %s - %s\n", ops.Unknown, strings.Join(strings.Fields(err.Error()), " "))
	return &checkExit{code: int(ops.Unknown)}
}

func status(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "status", statusUsage)
	dbf := addDBFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON (a stable shape, for scripts)")
	inbox := fs.String("inbox", "", "the inbox to count (default: $PROVISIONER_INBOX, else the configuration's; none: left out)")
	deadAfter := fs.Duration("dead-after", instances.DefaultDeadAfter, "an instance with no heartbeat for longer is dead")
	check := fs.Bool("check", false, "a monitoring check: one line, and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
	var copts ops.CheckOptions
	durationFlag(fs, &copts.DueWarning, "due-warning", time.Hour, "with --check: WARNING when the oldest due request has waited longer (0: never)")
	durationFlag(fs, &copts.DueCritical, "due-critical", 4*time.Hour, "with --check: CRITICAL when the oldest due request has waited longer (0: never)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("status takes no arguments, got %q", fs.Args())
	}
	if *check && *asJSON {
		return usagef("--check and --json are two outputs: give one")
	}
	if *inbox == "" {
		*inbox = env.Getenv("PROVISIONER_INBOX")
	}
	// With a configuration file, status sees what the scheduler sees: its database,
	// its inbox and the jobs' schedules.
	env, _, db, err := dbf.setUp(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	if *inbox == "" && dbf.cfg != nil {
		*inbox = dbf.cfg.Import.Inbox
	}
	if *deadAfter <= 0 {
		return usagef("--dead-after %v: must be positive", *deadAfter)
	}
	opts := statusOptions(env.now(), *inbox, dbf.cfg)
	opts.DeadAfter = *deadAfter
	st, err := ops.Snapshot(ctx, db, opts)
	if err != nil {
		return err
	}
	switch {
	case *check:
		r := ops.Check(st, copts)
		fmt.Fprintln(env.Stdout, r.Summary(st, copts))
		for _, p := range r.Problems {
			fmt.Fprintf(env.Stdout, "%s: %s\n", p.Severity, p.Msg)
		}
		if r.Severity == ops.OK {
			return nil
		}
		return &checkExit{code: int(r.Severity)}
	case *asJSON:
		return writeJSON(env.Stdout, st)
	}
	return writeStatus(env.Stdout, st)
}

// checkExit ends `status --check` with its verdict's exit code, the verdict already
// printed.
type checkExit struct{ code int }

func (e *checkExit) Error() string { return fmt.Sprintf("check: exit %d", e.code) }

// durationFlag is a duration flag that takes days too ("2d"), as the configuration.
func durationFlag(fs *flag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.Func(name, fmt.Sprintf("%s (default %v)", usage, def), func(s string) error {
		d, err := dur.Parse(s)
		if err != nil {
			return err
		}
		if d < 0 {
			return fmt.Errorf("%q: must not be negative", s)
		}
		*p = d
		return nil
	})
}

func writeStatus(w io.Writer, st ops.Status) error {
	r := st.Requests
	fmt.Fprintf(w, "Status at %s\n\n", rfc3339(st.GeneratedAt))
	fmt.Fprintf(w, "Requests: %d (PENDING %d, COMPLETED %d, REJECTED %d)\n", r.Total, r.ByState["PENDING"], r.ByState["COMPLETED"], r.ByState["REJECTED"])
	p := r.Pending
	fmt.Fprintf(w, "Pending: %d due, %d blocked, %d in flight, %d held, %d waiting to be sent again, %d scheduled later\n",
		p.Due, p.Blocked, p.InFlight, p.Held, p.RetryWait, p.Scheduled)
	if b := p.BlockedBy; p.Blocked > 0 {
		// What holds the blocked ones: the earlier request of their card that goes
		// first, by what it waits for (`requests show N` tells of one request).
		fmt.Fprintf(w, "  blocked behind an earlier request of their smartcard that is: %d due, %d in flight, %d held, %d waiting to be sent again, %d scheduled later\n",
			b.Due, b.InFlight, b.Held, b.RetryWait, b.Scheduled)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(r.Groups) > 0 {
		fmt.Fprintln(tw, "  STATE\tTYPE\tPRIORITY\tCOUNT")
		for _, g := range r.Groups {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\n", g.State, g.Type, g.Priority, g.Count)
		}
		tw.Flush()
	}

	if o := st.OldestPending; o != nil {
		last := ""
		if o.ErrorCode != "" {
			last = ", last " + esc(o.ErrorCode)
		}
		fmt.Fprintf(w, "\nOldest pending: request %d, due since %s (%s), %d attempts%s\n",
			o.Number, rfc3339(o.DueSince), age(o.AgeSeconds), o.Attempts, last)
	} else {
		fmt.Fprintln(w, "\nOldest pending: none due")
	}

	if in := st.Inbox; in != nil {
		oldest := ""
		if in.OldestWaitingAgeSeconds != nil {
			oldest = fmt.Sprintf(" (oldest %s)", age(*in.OldestWaitingAgeSeconds))
		}
		fmt.Fprintf(w, "Inbox %s: %d waiting%s, %d in processing/, %d in failed/\n", esc(in.Dir), in.Waiting, oldest, in.Processing, in.Failed)
	} else {
		fmt.Fprintln(w, "Inbox: not given (--inbox or PROVISIONER_INBOX)")
	}
	if len(st.Paused) == 0 {
		fmt.Fprintln(w, "Paused: nothing")
	} else {
		fmt.Fprintln(w, "Paused (provisioner resume JOB|queue ends it):")
		for _, p := range st.Paused {
			fmt.Fprintf(tw, "  %s\t%s\n", p.Target, p.Why())
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nLast job runs (the scheduler's and provisioner run's, from the run ledger):")
	// The schedule columns only when a configuration was loaded (Schedule set).
	scheduled := len(st.Jobs) > 0 && st.Jobs[0].Schedule != nil
	if scheduled {
		fmt.Fprintln(tw, "  JOB\tSCHEDULE\tDUE\tSTATE\tTRIGGER\tSTARTED\tTOOK\tINSTANCE\tCOUNTS / ERROR")
	} else {
		fmt.Fprintln(tw, "  JOB\tSTATE\tTRIGGER\tSTARTED\tTOOK\tINSTANCE\tCOUNTS / ERROR")
	}
	for _, j := range st.Jobs {
		fmt.Fprintf(tw, "  %s\t", j.Job)
		if scheduled {
			fmt.Fprintf(tw, "%s\t%s\t", orDash(*j.Schedule), due(j))
		}
		if j.NeverRun {
			fmt.Fprintln(tw, "never run\t-\t-\t-\t-\t-")
			continue
		}
		took := "-"
		if j.DurationSeconds != nil {
			took = (time.Duration(*j.DurationSeconds * float64(time.Second))).Round(time.Millisecond).String()
		}
		detail := string(j.Counts)
		if j.Error != "" {
			detail = j.Error
		}
		state := *j.State
		if j.InstanceDead != nil && *j.InstanceDead {
			state += " (instance dead)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", state, *j.Trigger, stamp(*j.StartedAt), took, esc(*j.Instance), oneLine(detail))
	}
	tw.Flush()
	// The ledger records the scheduler's runs and `provisioner run`; these two say
	// what ran last however it was started.
	fmt.Fprintln(w)
	if p := st.LastProcessingRun; p != nil {
		took := "running"
		if p.FinishedAt != nil {
			took = p.FinishedAt.Sub(p.StartedAt).Round(time.Millisecond).String()
		}
		batches := "batches"
		if p.Batches == 1 {
			batches = "batch"
		}
		state := runState(p)
		if p.InstanceDead != nil && *p.InstanceDead {
			state += " (instance dead)"
		}
		fmt.Fprintf(w, "Last processing run: %d %s, started %s (%s) on %s:%d: %d claimed, %d completed, %d rejected, %d to send again, in %d %s",
			p.ID, state, stamp(p.StartedAt), took, esc(p.Host), p.PID, p.Claimed, p.Completed, p.Rejected, p.Retried, p.Batches, batches)
		if p.Error != "" {
			fmt.Fprintf(w, "; %s", oneLine(p.Error))
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "Last processing run: none")
	}
	if f := st.LastImport; f != nil {
		fmt.Fprintf(w, "Last import: file %d %s %s, finished %s: %d rows read, %d created, %d rejected",
			f.ID, esc(f.Name), f.State, stamp(f.FinishedAt), f.RowsRead, f.RowsCreated, f.RowsRejected)
		if f.Error != "" {
			fmt.Fprintf(w, "; %s", oneLine(f.Error))
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "Last import: none")
	}

	writeInstances(w, st)

	fmt.Fprintln(w, "\nErrors of the last day:")
	if len(st.ErrorsLastDay) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		fmt.Fprintln(tw, "  CODE\tREJECTED")
		for _, e := range st.ErrorsLastDay {
			fmt.Fprintf(tw, "  %s\t%d\n", esc(e.Code), e.Count)
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nLast reconciliations (provisioner reconcile, the reconcile job):")
	if len(st.Reconciliations) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, r := range st.Reconciliations {
		dry := ""
		if r.DryRun {
			dry = " (dry run)"
		}
		fmt.Fprintf(w, "  %d %s%s, %s, started %s: checked %d, drifted %d, busy %d, unknown %d, disabled %d, corrections %d\n",
			r.ID, r.State, dry, r.Scope, stamp(r.StartedAt), r.Checked, r.Drifted, r.Busy, r.Unknown, r.Disabled, r.Corrections)
		if r.Report != "" {
			fmt.Fprintf(w, "    report %s\n", r.Report)
		}
		if r.Error != "" {
			fmt.Fprintf(w, "    %s\n", oneLine(r.Error))
		}
	}
	return nil
}

// runState is a processing run's state as the run ledger (and the exit code) name
// it: a run that finished but rejected requests is REJECTED there, not SUCCEEDED,
// and the two lines of status must not disagree about the same run.
func runState(p *ops.ProcessingRun) string {
	if p.State == string(jobs.Succeeded) && p.Rejected > 0 {
		return string(jobs.Rejected)
	}
	return p.State
}

// writeInstances lists the instances with a heartbeat row, the dead ones marked.
func writeInstances(w io.Writer, st ops.Status) {
	fmt.Fprintln(w, "\nInstances (heartbeats of schedulers, provisioner run and provisioner process):")
	if len(st.Instances) == 0 {
		fmt.Fprintln(w, "  none")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  KIND\tNAME\tHOST\tPID\tVERSION\tSTARTED\tLAST SEEN\tSTATE\tDOING")
	for _, in := range st.Instances {
		state := "live"
		if in.Dead {
			state = "DEAD"
		}
		seen := age(int64(max(st.GeneratedAt.Sub(in.LastSeenAt), 0)/time.Second)) + " ago"
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", in.Kind, esc(in.Name), esc(in.Host), in.PID, orDash(esc(in.Version)),
			stamp(in.StartedAt), seen, state, orDash(esc(in.Doing)))
	}
	tw.Flush()
}

// due says whether a job's schedule is kept: "overdue since TICK", "ok", or "-" when
// that cannot be told (not scheduled, never run).
func due(j ops.JobRun) string {
	switch {
	case j.Overdue == nil:
		return "-"
	case *j.Overdue:
		return "OVERDUE since " + stamp(*j.OverdueSince)
	}
	return "ok"
}

// age prints whole seconds as 3d4h, 2h5m, 4m30s or 12s.
func age(sec int64) string {
	d, h, m, s := sec/86400, sec%86400/3600, sec%3600/60, sec%60
	switch {
	case d > 0:
		return fmt.Sprintf("%dd%dh", d, h)
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// oneLine is s on one line (runs of white space made one space), at most 100
// characters, its control characters escaped.
func oneLine(s string) string {
	r := []rune(esc(strings.Join(strings.Fields(s), " ")))
	if len(r) > 100 {
		r = append(r[:97], []rune("...")...)
	}
	return string(r)
}

// statusOptions gives ops what it does not look up itself: the jobs, the importer's
// count of the inbox and, with a configuration, the jobs' schedules.
func statusOptions(now time.Time, inbox string, cfg *config.Config) ops.StatusOptions {
	o := ops.StatusOptions{Now: now, Jobs: jobs.Names(), Inbox: inbox, CountInbox: countInbox}
	if cfg != nil {
		o.Schedules = map[string]ops.Schedule{}
		for name, j := range cfg.Jobs() {
			o.Schedules[name] = ops.Schedule{Spec: j.Schedule, Cron: j.Cron}
		}
	}
	return o
}

// countInbox counts an inbox's files by the importer's rules, for ops and metrics,
// which do not know the inbox's layout.
func countInbox(dir string) (ops.InboxFiles, error) {
	b, err := importer.InboxBacklog(dir)
	return ops.InboxFiles(b), err
}
