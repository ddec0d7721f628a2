package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/provisioner/provisioner/instances"
	"github.com/provisioner/provisioner/internal/cmdline"
	"github.com/provisioner/provisioner/jobs"
)

const runUsage = `run JOB [--config FILE]

Runs one job once (housekeeping, import, process or reconcile), recorded in the run ledger as a
MANUAL run: for system cron (see crontab.example) and for operators. Exit codes as
the other commands: 0 done, 1 failed or interrupted, 2 configuration, 3 done with
rejects. A run that finds the job still running elsewhere is SKIPPED (exit 0).`

func runRun(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "run", runUsage)
	path := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("run which job? one of %s", strings.Join(jobs.Names(), ", "))
	}
	name := fs.Arg(0) // flags may come before or after it (cmdline.Parse)
	if fs.NArg() > 1 {
		return usagef("run takes one job, got %q", fs.Args())
	}
	fn, ok := jobs.All[name]
	if !ok {
		return usagef("no job %q: the jobs are %s", name, strings.Join(jobs.Names(), ", "))
	}
	c, err := loadConfig(env, *path)
	if err != nil {
		return err
	}
	env, log, err := configured(env, c)
	if err != nil {
		return err
	}
	switch {
	case name == "process":
		if err := jobs.CheckDispatcher(jobs.GatewayConfig(c), jobs.ProcessOptions(c)); err != nil {
			return usagef("%v", err)
		}
	case name == "reconcile":
		if err := jobs.GatewayConfig(c).Check(); err != nil {
			return usagef("gateway: %v", err)
		}
	case name == "import" && c.Import.Inbox == "":
		return usagef("jobs.import.inbox is not set in %s", c.Path)
	}
	db, err := openPool(ctx, env, "", poolSize(c))
	if err != nil {
		return err
	}
	defer db.Close()
	instance := c.Scheduler.Instance
	if instance == "" {
		instance = jobs.DefaultInstance()
	}
	// The instance in every line, as the scheduler's: the ledger records it too.
	ilog := log.WithField("instance", instance)
	defer startHeartbeat(ctx, db, ilog, instances.Run, instance, func() string { return "running " + name })()
	ledger := &jobs.Ledger{DB: db, Log: ilog, Instance: instance}
	run, err := ledger.Run(ctx, name, time.Now(), jobs.Manual, fn, jobs.Env{DB: db, Log: ilog.WithField("job", name), Config: c})
	if err != nil {
		return err
	}
	if run.Result.Summary != "" {
		fmt.Fprintln(env.Stdout, run.Result.Summary)
	}
	fmt.Fprintf(env.Stdout, "%s run %d: %s in %s\n", name, run.ID, run.State, run.Took.Round(time.Millisecond))
	switch run.State {
	case jobs.Succeeded:
		return nil
	case jobs.Skipped:
		fmt.Fprintf(env.Stdout, "skipped: %s\n", esc(run.Err.Error()))
		return nil
	case jobs.Rejected:
		return &rejectedError{fmt.Sprintf("%s: %d rejected", name, run.Result.Rejected)}
	case jobs.Interrupted:
		return fmt.Errorf("%s interrupted", name)
	}
	if jobs.IsConfig(run.Err) {
		return &cmdline.UsageError{Msg: run.Err.Error()}
	}
	return run.Err
}
