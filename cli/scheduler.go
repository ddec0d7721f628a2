package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/instances"
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
	// What config check finds besides the file's own mistakes: the scheduler
	// refuses the same, with the same words.
	if mistakes, _ := startChecks(c, false); len(mistakes) > 0 {
		return usagef("refusing to start: %s", strings.Join(mistakes, "; "))
	}
	db, err := openPool(ctx, env, "", poolSize(c))
	if err != nil {
		return err
	}
	defer db.Close()
	// One set of metrics for the daemon's life: the jobs' runs, their gateway
	// batches and results, and the queue read at scrape time.
	m := metrics.New(db, metricsOptions(c, log))
	s, err := scheduler.New(scheduler.Options{DB: db, Log: log, Config: c, Metrics: m.Handler(), Observer: m, Gateway: m,
		Notify: sdNotifier(env.Getenv("NOTIFY_SOCKET"), log), Watchdog: watchdogInterval(env.Getenv, log)})
	if err != nil {
		return usagef("refusing to start: %v", err)
	}

	defer startHeartbeat(ctx, db, log, instances.Scheduler, s.Instance(), s.Doing)()

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
	if err := s.Run(ctx); errors.Is(err, scheduler.ErrMetricsListen) {
		// A bad or busy address is the configuration's: exit 2, which the unit's
		// RestartPreventExitStatus does not restart every 10 s for ever.
		return usagef("refusing to start: %v", err)
	} else if err != nil {
		return err
	}
	return nil
}

// startChecks names what makes the scheduler refuse to start with c, beyond the
// file's own mistakes (config.Load names those) and a file that schedules nothing
// (scheduler.Scheduled): an inbox that is not a readable directory, gateway
// settings missing from the environment, and, with listen, a metrics address that
// cannot be listened on. An address in use is a warning: the scheduler being
// checked may be the one holding it.
func startChecks(c *config.Config, listen bool) (mistakes, warnings []string) {
	if c.Process.Cron != nil {
		// The gateway settings come from the environment too: checked before
		// starting, not at the first tick.
		if err := jobs.CheckDispatcher(jobs.GatewayConfig(c), jobs.ProcessOptions(c)); err != nil {
			mistakes = append(mistakes, fmt.Sprintf("the process job is scheduled, but %v", err))
		}
	}
	if c.Import.Cron != nil {
		if st, err := os.Stat(c.Import.Inbox); err != nil || !st.IsDir() {
			why := "not a directory"
			if err != nil {
				why = err.Error()
			}
			mistakes = append(mistakes, fmt.Sprintf("the import job is scheduled, but its inbox %s is not a directory that can be read (%s)", c.Import.Inbox, why))
		} else if f, err := os.Open(c.Import.Inbox); err != nil {
			mistakes = append(mistakes, fmt.Sprintf("the import job is scheduled, but its inbox %s cannot be read (%v)", c.Import.Inbox, err))
		} else {
			f.Close()
		}
	}
	if listen && c.Scheduler.MetricsListen != "" {
		ln, err := net.Listen("tcp", c.Scheduler.MetricsListen)
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			warnings = append(warnings, fmt.Sprintf("scheduler.metrics_listen %s is in use now (by a running scheduler?): a scheduler starting while it is refuses to start", c.Scheduler.MetricsListen))
		case err != nil:
			mistakes = append(mistakes, fmt.Sprintf("scheduler.metrics_listen: cannot listen on %s: %v", c.Scheduler.MetricsListen, err))
		default:
			ln.Close()
		}
	}
	return mistakes, warnings
}

// metricsOptions: the series of every scheduled job from the start, and the inbox
// counted as status counts it.
func metricsOptions(c *config.Config, log logrus.FieldLogger) metrics.Options {
	o := metrics.Options{Log: log, Build: buildInfo()}
	for _, name := range jobs.Names() {
		if c.Jobs()[name].Cron != nil {
			o.Jobs = append(o.Jobs, name)
		}
	}
	if c.Import.Inbox != "" {
		o.Inbox, o.CountInbox = c.Import.Inbox, countInbox
	}
	return o
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
