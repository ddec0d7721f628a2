package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/store"
)

// Observer hears of every run the scheduler recorded (SKIPPED ones included): the
// metrics package counts them. It is called from the runs' goroutines, at once: it
// must be safe for concurrent use, and not block.
type Observer interface {
	JobFinished(job, state string, took time.Duration)
}

// Options are what a Scheduler works with.
type Options struct {
	DB     *store.DB
	Log    logrus.FieldLogger
	Config *config.Config
	// Instance names this scheduler in the ledger; "" takes Config.Scheduler.Instance,
	// then host:pid.
	Instance string
	// Jobs by name; nil: jobs.All.
	Jobs map[string]jobs.Job
	// Metrics, when set, is served at /metrics on Config.Scheduler.MetricsListen
	// (when that is set).
	Metrics http.Handler
	// Observer, when set, is told of every run.
	Observer Observer
	// Gateway, when set, is told of the jobs' batches and results (jobs.Env.Gateway).
	Gateway dispatcher.Observer
	// Notify, when set, is told the scheduler's state in sd_notify(3) form, for a
	// systemd Type=notify service: "READY=1" once it schedules, "STATUS=..." at a
	// reload, "STOPPING=1" when it begins to stop, and "WATCHDOG=1" every Watchdog.
	Notify func(state string)
	// Watchdog, when set with Notify, is how often the scheduler's loop says
	// "WATCHDOG=1" (systemd's WatchdogSec=, halved): a loop that stops answering
	// stops the pings, and systemd restarts the service.
	Watchdog time.Duration
}

// ErrMetricsListen is Run's error when the metrics address cannot be listened on: a
// configuration mistake (the command exits 2), found before any job runs.
var ErrMetricsListen = errors.New("cannot serve metrics")

// Scheduler runs the configured jobs on their schedules until its context ends.
type Scheduler struct {
	opts   Options
	ledger *jobs.Ledger
	log    logrus.FieldLogger

	reload chan *config.Config
	// Jobs run under jobCtx, not under Run's context: at shutdown they get the grace
	// period before it is cancelled.
	jobCtx     context.Context
	cancelJobs context.CancelFunc
	running    sync.WaitGroup

	mu      sync.Mutex
	addr    string         // where /metrics is served, once listening
	runners map[string]int // jobs running now, by name: for Doing
}

// New returns a Scheduler, or an error when nothing is scheduled.
func New(opts Options) (*Scheduler, error) {
	if opts.Jobs == nil {
		opts.Jobs = jobs.All
	}
	if opts.Instance == "" {
		opts.Instance = opts.Config.Scheduler.Instance
	}
	if opts.Instance == "" {
		opts.Instance = jobs.DefaultInstance()
	}
	if err := Scheduled(opts.Config); err != nil {
		return nil, err
	}
	log := opts.Log.WithField("instance", opts.Instance)
	s := &Scheduler{
		opts:   opts,
		ledger: &jobs.Ledger{DB: opts.DB, Log: log, Instance: opts.Instance},
		log:    log,
		reload: make(chan *config.Config),
	}
	if opts.Observer != nil {
		// Told by the ledger before it logs the run's end, so that the metrics count
		// a run by the time its "job finished" line can be read.
		s.ledger.Finished = func(job string, state jobs.State, took time.Duration) {
			opts.Observer.JobFinished(job, string(state), took)
		}
	}
	s.jobCtx, s.cancelJobs = context.WithCancel(context.Background())
	return s, nil
}

// Scheduled returns why c gives the scheduler nothing to do, or nil: New and Reload
// refuse such a configuration, and `config check` names it.
func Scheduled(c *config.Config) error {
	for _, j := range c.Jobs() {
		if j.Cron != nil {
			return nil
		}
	}
	return fmt.Errorf("%s schedules no job: give at least one of jobs.import, jobs.process, jobs.housekeeping a schedule (a file for provisioner run alone needs none)", c.Path)
}

// Reload makes c the configuration from the next tick on; runs in progress finish
// with the one they started with. c must have been checked (config.Load).
func (s *Scheduler) Reload(ctx context.Context, c *config.Config) error {
	if err := Scheduled(c); err != nil {
		return err
	}
	select {
	case s.reload <- c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CancelJobs cancels the running jobs at once, without waiting for the grace period
// (a second SIGTERM or Ctrl-C).
func (s *Scheduler) CancelJobs() {
	s.log.Warn("cancelling the running jobs now")
	s.cancelJobs()
}

// Doing says what the scheduler is doing, for its heartbeat (package instances):
// "running import, process", or "idle".
func (s *Scheduler) Doing() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.runners) == 0 {
		return "idle"
	}
	names := make([]string, 0, len(s.runners))
	for n := range s.runners {
		names = append(names, n)
	}
	slices.Sort(names)
	return "running " + strings.Join(names, ", ")
}

// Instance names the scheduler in the run ledger (and its heartbeat row).
func (s *Scheduler) Instance() string { return s.opts.Instance }

// MetricsAddr is the address /metrics is served on ("" when it is not).
func (s *Scheduler) MetricsAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run schedules the jobs until ctx is cancelled (SIGTERM): then it starts nothing
// new, lets the running jobs finish for the grace period, cancels them, and returns
// once they have all stopped. The error is for a scheduler that could not start.
func (s *Scheduler) Run(ctx context.Context) error {
	cfg := s.opts.Config
	if cfg.Scheduler.MetricsListen != "" && s.opts.Metrics != nil {
		stop, err := s.serveMetrics(cfg.Scheduler.MetricsListen)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMetricsListen, err)
		}
		defer stop()
	}
	if n, err := s.ledger.Sweep(ctx, jobs.Names()); err != nil {
		return err
	} else if n > 0 {
		s.log.WithField("runs", n).Warn("runs left RUNNING by instances that died marked ABANDONED")
	}
	s.catchUp(ctx, cfg)
	s.log.WithField("jobs", describe(cfg)).Info("scheduler started")
	s.notify("READY=1\nSTATUS=" + status(cfg))
	var watchdog <-chan time.Time // nil: never
	if s.opts.Watchdog > 0 && s.opts.Notify != nil {
		t := time.NewTicker(s.opts.Watchdog)
		defer t.Stop()
		watchdog = t.C
	}

	for {
		genCtx, stopGen := context.WithCancel(ctx)
		var loops sync.WaitGroup
		for name, j := range cfg.Jobs() {
			if j.Cron == nil {
				continue
			}
			loops.Add(1)
			go func() {
				defer loops.Done()
				s.loop(genCtx, name, j.Cron, cfg)
			}()
		}
		next, done := s.wait(ctx, watchdog)
		stopGen()
		loops.Wait()
		if done {
			s.shutdown(cfg.Scheduler.GracePeriod, watchdog)
			return nil
		}
		if next.Scheduler.MetricsListen != cfg.Scheduler.MetricsListen || next.Database.URL != cfg.Database.URL || next.Scheduler.Instance != cfg.Scheduler.Instance {
			s.log.Warn("scheduler.metrics_listen, scheduler.instance and database.url change only at a restart: kept as they were")
		}
		cfg = next
		s.log.WithField("jobs", describe(cfg)).Info("configuration reloaded")
		s.notify("STATUS=" + status(cfg))
	}
}

// wait waits for the end (done) or a new configuration, telling systemd's watchdog
// meanwhile that the loop answers.
func (s *Scheduler) wait(ctx context.Context, watchdog <-chan time.Time) (next *config.Config, done bool) {
	for {
		select {
		case <-ctx.Done():
			return nil, true
		case next := <-s.reload:
			return next, false
		case <-watchdog:
			s.notify("WATCHDOG=1")
		}
	}
}

// describe lists the scheduled jobs and their specs, for the log.
func describe(c *config.Config) map[string]string {
	d := map[string]string{}
	for name, j := range c.Jobs() {
		if j.Cron != nil {
			d[name] = j.Schedule
		}
	}
	return d
}

// status is the one line systemctl status shows: the jobs and their schedules.
func status(c *config.Config) string {
	d := describe(c)
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(d)) {
		parts = append(parts, fmt.Sprintf("%s (%s)", name, d[name]))
	}
	return "scheduling " + strings.Join(parts, ", ")
}

func (s *Scheduler) notify(state string) {
	if s.opts.Notify != nil {
		s.opts.Notify(state)
	}
}

// maxLate is how late a tick may still be started by a loop that was held up.
const maxLate = 10 * time.Second

// loop starts job name at each tick of its schedule until ctx ends.
func (s *Scheduler) loop(ctx context.Context, name string, sched cron.Schedule, cfg *config.Config) {
	next := sched.Next(time.Now())
	for {
		// The timer runs on the monotonic clock; the tick is wall-clock time: wait
		// again should the wall clock be behind.
		for wait := time.Until(next); wait > 0; wait = time.Until(next) {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		s.start(name, next, jobs.Scheduled, cfg)
		after := sched.Next(next)
		if now := time.Now(); now.Sub(after) > maxLate {
			// Stalled past later ticks (a suspended VM, a clock step): the last maxLate's
			// are run at once (the ledger turns away those another instance ran), older
			// ones are left to other instances rather than run in a burst.
			from := sched.Next(now.Add(-maxLate))
			s.log.WithFields(logrus.Fields{"job": name, "from": after.UTC().Format(time.RFC3339), "until": from.UTC().Format(time.RFC3339)}).
				Warn("ticks passed while the scheduler was stalled: not run here")
			after = from
		}
		next = after
	}
}

// start runs job name for tick in the background, under the jobs' context.
func (s *Scheduler) start(name string, tick time.Time, trig jobs.Trigger, cfg *config.Config) {
	fn := s.opts.Jobs[name]
	if fn == nil {
		s.log.WithField("job", name).Error("no such job")
		return
	}
	s.running.Add(1)
	s.mu.Lock()
	if s.runners == nil {
		s.runners = map[string]int{}
	}
	s.runners[name]++
	s.mu.Unlock()
	go func() {
		defer s.running.Done()
		defer func() {
			s.mu.Lock()
			if s.runners[name]--; s.runners[name] <= 0 {
				delete(s.runners, name)
			}
			s.mu.Unlock()
		}()
		env := jobs.Env{DB: s.opts.DB, Log: s.log.WithField("job", name), Config: cfg, Gateway: s.opts.Gateway}
		_, err := s.ledger.Run(s.jobCtx, name, tick, trig, fn, env)
		switch {
		case errors.Is(err, jobs.ErrTaken):
			s.log.WithFields(logrus.Fields{"job": name, "tick": tick.UTC().Format(time.RFC3339)}).Debug("tick taken by another instance")
			return
		case err != nil:
			s.log.WithError(err).WithField("job", name).Error("could not run the job")
		}
	}()
}

// catchUp logs the ticks missed while no instance ran, and runs once, for the latest
// of them, each job whose catch-up policy says so.
func (s *Scheduler) catchUp(ctx context.Context, cfg *config.Config) {
	now := time.Now()
	for name, j := range cfg.Jobs() {
		if j.Cron == nil {
			continue
		}
		last, err := s.ledger.LastTick(ctx, name)
		if err != nil {
			s.log.WithError(err).WithField("job", name).Error("could not look for missed ticks")
			continue
		}
		if last.IsZero() {
			continue // never scheduled before: nothing was missed
		}
		first := j.Cron.Next(last)
		if first.After(now) {
			continue
		}
		latest := latestTick(j.Cron, last, now)
		missed := 0
		for t := first; !t.After(now) && missed < maxCounted; t = j.Cron.Next(t) {
			missed++
		}
		entry := s.log.WithFields(logrus.Fields{
			"job": name, "missed": missed, "first": first.UTC().Format(time.RFC3339), "latest": latest.UTC().Format(time.RFC3339),
			"catch_up": j.CatchUp,
		})
		if missed == maxCounted {
			entry = entry.WithField("missed", fmt.Sprintf("%d or more", maxCounted))
		}
		if !j.CatchUp {
			entry.Warn("ticks missed while no scheduler ran; catch_up is off: not run")
			continue
		}
		entry.Warn("ticks missed while no scheduler ran: running the job once, for the latest")
		s.start(name, latest, jobs.CatchUp, cfg)
	}
}

// maxCounted bounds the count of missed ticks logged (a per-second job down for a week).
const maxCounted = 100_000

// latestTick is the schedule's latest tick after `after` and not after now; there is
// one. It looks back over widening windows, so that a per-second job down for months
// costs no more than a monthly one.
func latestTick(sched cron.Schedule, after, now time.Time) time.Time {
	for w := time.Minute; ; w *= 4 {
		from := now.Add(-w)
		if from.Before(after) {
			from = after
		}
		t := sched.Next(from)
		if t.After(now) {
			continue // no tick in this window: look further back
		}
		for next := sched.Next(t); !next.After(now); next = sched.Next(next) {
			t = next
		}
		return t
	}
}

// shutdown waits for the running jobs for grace, then cancels them and waits for
// them to stop.
func (s *Scheduler) shutdown(grace time.Duration, watchdog <-chan time.Time) {
	done := make(chan struct{})
	go func() {
		s.running.Wait()
		close(done)
	}()
	s.log.WithField("grace_period", grace.String()).Info("stopping: no new runs; waiting for the running jobs")
	s.notify(fmt.Sprintf("STOPPING=1\nSTATUS=stopping: waiting up to %v for the running jobs", grace))
	t := time.NewTimer(grace)
	defer t.Stop()
	// The pings go on while the jobs finish: the grace period may be longer than
	// WatchdogSec.
wait:
	for {
		select {
		case <-done:
			break wait
		case <-watchdog:
			s.notify("WATCHDOG=1")
		case <-t.C:
			s.log.Warn("grace period over: cancelling the running jobs")
			s.cancelJobs()
			<-done
			break wait
		}
	}
	s.cancelJobs()
	s.log.Info("scheduler stopped")
}

// serveMetrics serves the metrics handler at /metrics on addr until stop is called.
func (s *Scheduler) serveMetrics(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.opts.Metrics)
	// Liveness for a load balancer or a probe: the scheduler is up and serving. The
	// state of the jobs is in /metrics and `provisioner status --check`.
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.WithError(err).Error("metrics server stopped")
		}
	}()
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.mu.Unlock()
	s.log.WithField("address", s.addr).Info("serving metrics at /metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
