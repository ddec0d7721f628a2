package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/metrics"
	"github.com/provisioner/provisioner/scheduler"
)

const schedulerUsage = `scheduler [--config FILE]

Runs the jobs of the configuration file (--config, else $PROVISIONER_CONFIG) on their
schedules, in the foreground, until SIGTERM or SIGINT: then it starts nothing new, lets
running jobs finish for scheduler.grace_period and cancels them (at once on a second
signal). SIGHUP reloads the
file; a file with mistakes is not taken and the log says why. Under systemd
(Type=notify: $NOTIFY_SOCKET set) it says when it is ready, its schedules and when it
stops.`

const runUsage = `run JOB [--config FILE]

Runs one job once (import, process or housekeeping), recorded in the run ledger as a
MANUAL run: for system cron (see crontab.example) and for operators. Exit codes as
the other commands: 0 done, 1 failed or interrupted, 2 configuration, 3 done with
rejects. A run that finds the job still running elsewhere is SKIPPED (exit 0).`

const configUsage = `config check [FILE]

Checks a configuration file (FILE, --config, else $PROVISIONER_CONFIG) and names every
bad key, value or cron spec with its line; exit 2 if there is any.`

// configFlag adds --config.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "configuration file (default: $PROVISIONER_CONFIG)")
}

// loadConfig reads the configuration; mistakes are a usage error that lists them.
func loadConfig(env Env, path string) (*config.Config, error) {
	c, err := config.Load(path, env.Getenv)
	var ps *config.Problems
	switch {
	case errors.As(err, &ps):
		return nil, usagef("%d mistakes in the configuration:\n%v", len(ps.List), err)
	case errors.Is(err, config.ErrNoFile):
		return nil, usagef("%v", err)
	case err != nil:
		return nil, usagef("%v", err)
	}
	return c, nil
}

// configured returns env seen through the configuration (the environment first, then
// the file) and a logger set up from both.
func configured(env Env, c *config.Config) (Env, *logrus.Logger, error) {
	env.Getenv = c.Getenv(env.Getenv)
	log, err := newLogger(env)
	if err != nil {
		return env, nil, err
	}
	for _, w := range c.Warnings {
		log.Warn(w)
	}
	return env, log, nil
}

func runScheduler(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "scheduler", schedulerUsage)
	path := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("scheduler takes no arguments, got %q", fs.Args())
	}
	c, err := loadConfig(env, *path)
	if err != nil {
		return usagef("refusing to start: %v", err)
	}
	env, log, err := configured(env, c)
	if err != nil {
		return err
	}
	if c.Process.Cron != nil {
		// The gateway settings come from the environment too: check them before
		// starting, not at the first tick.
		if err := jobs.CheckDispatcher(jobs.GatewayConfig(c), jobs.ProcessOptions(c)); err != nil {
			return usagef("refusing to start: the process job is scheduled, but %v", err)
		}
	}
	if c.Import.Cron != nil {
		if st, err := os.Stat(c.Import.Inbox); err != nil || !st.IsDir() {
			return usagef("refusing to start: the import job is scheduled, but its inbox %s is not a directory that can be read (%v)", c.Import.Inbox, err)
		}
	}
	db, err := openPool(ctx, env, "", poolSize(c))
	if err != nil {
		return err
	}
	defer db.Close()
	// One set of metrics for the daemon's life: the jobs' runs, their gateway
	// batches and results, and the queue read at scrape time.
	m := metrics.New(db, metrics.Options{Log: log})
	s, err := scheduler.New(scheduler.Options{DB: db, Log: log, Config: c, Metrics: m.Handler(), Observer: m, Gateway: m,
		Notify: sdNotifier(env.Getenv("NOTIFY_SOCKET"), log)})
	if err != nil {
		return usagef("refusing to start: %v", err)
	}

	runDone := make(chan struct{})
	defer close(runDone)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// The first SIGTERM or SIGINT cancels ctx (main): a graceful stop. A second one
	// does not wait for the grace period.
	term := make(chan os.Signal, 2)
	signal.Notify(term, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(term)
	go func() {
		signals := 0
		for {
			select {
			case <-runDone:
				return
			case <-hup:
				reload(ctx, env, c.Path, s, log)
			case <-term:
				if signals++; signals == 2 {
					s.CancelJobs()
				}
			}
		}
	}()
	return s.Run(ctx)
}

// poolSize makes room for every job at once: each running job holds a connection
// for its lock, beside the processing run's (dispatcher.Options.Conns), the
// import's two and the ledger's own statements.
func poolSize(c *config.Config) int {
	return jobs.ProcessOptions(c).Conns() + 2 + len(jobs.Names()) + 2
}

// reload reads the file again on SIGHUP; with mistakes it keeps the running
// configuration and logs each of them.
func reload(ctx context.Context, env Env, path string, s *scheduler.Scheduler, log logrus.FieldLogger) {
	c, err := config.Load(path, env.Getenv)
	if err == nil {
		for _, w := range c.Warnings {
			log.Warn(w)
		}
		err = s.Reload(ctx, c)
	}
	if err != nil {
		log.WithError(err).Error("SIGHUP: configuration not reloaded; the running one is kept")
	}
}

func runRun(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "run", runUsage)
	path := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("run which job? one of %s", strings.Join(jobs.Names(), ", "))
	}
	name := fs.Arg(0)
	if err := parseFlags(fs, fs.Args()[1:]); err != nil { // flags after the job's name
		return err
	}
	if fs.NArg() > 0 {
		return usagef("run takes one job, got %q", append([]string{name}, fs.Args()...))
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
	ledger := &jobs.Ledger{DB: db, Log: log, Instance: instance}
	run, err := ledger.Run(ctx, name, time.Now(), jobs.Manual, fn, jobs.Env{DB: db, Log: log.WithField("job", name), Config: c})
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
		fmt.Fprintf(env.Stdout, "skipped: %v\n", run.Err)
		return nil
	case jobs.Rejected:
		return &rejectedError{fmt.Sprintf("%s: %d rejected", name, run.Result.Rejected)}
	case jobs.Interrupted:
		return fmt.Errorf("%s interrupted", name)
	}
	if jobs.IsConfig(run.Err) {
		return &usageError{run.Err.Error()}
	}
	return run.Err
}

func runConfig(_ context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "check" {
		return usagef("usage: provisioner %s", configUsage)
	}
	fs := newFlagSet(env, "config check", configUsage)
	path := configFlag(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 1:
		return usagef("config check takes one file, got %q", fs.Args())
	case fs.NArg() == 1 && *path != "":
		return usagef("give the file as an argument or with --config, not both")
	case fs.NArg() == 1:
		*path = fs.Arg(0)
	}
	c, err := config.Load(*path, env.Getenv)
	var ps *config.Problems
	if errors.As(err, &ps) {
		fmt.Fprintln(env.Stdout, err)
		return usagef("%d mistakes in %s", len(ps.List), ps.File)
	}
	if err != nil {
		return usagef("%v", err)
	}
	for _, w := range c.Warnings {
		fmt.Fprintln(env.Stdout, "warning: "+w)
	}
	fmt.Fprintf(env.Stdout, "%s: ok\n", c.Path)
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSCHEDULE\tCATCH UP\tNEXT")
	now := time.Now()
	for _, name := range jobs.Names() {
		j := c.Jobs()[name]
		if j.Cron == nil {
			fmt.Fprintf(tw, "%s\t(not scheduled)\t\t\n", name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", name, j.Schedule, j.CatchUp, j.Cron.Next(now).Format(time.RFC3339))
	}
	return tw.Flush()
}
