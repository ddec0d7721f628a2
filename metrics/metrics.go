package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
	"github.com/provisioner/provisioner/reconcile"
	"github.com/provisioner/provisioner/store"
)

// Options tune the metrics. Zero values take the defaults.
type Options struct {
	// QueryTimeout bounds the queue query of one scrape (default 5s).
	QueryTimeout time.Duration
	// MinInterval: the queue is read at most once per MinInterval, and scrapes in
	// between get the figures of the last read, so that several scrapers (HA
	// Prometheus, a curious operator) cost one scan of the requests per interval.
	// Default 10s; negative: every scrape.
	MinInterval time.Duration
	// Now is the clock of the oldest pending age (default time.Now).
	Now func() time.Time
	// Log hears why a scrape could not read the queue (default: nobody).
	Log logrus.FieldLogger
	// Jobs: the jobs whose series exist from the start, 0 before their first run
	// (provisioner_job_runs_total by outcome, and the last-success timestamp read
	// from the run ledger), so that alerts on them work before anything ran.
	Jobs []string
	// Inbox, with CountInbox (importer.InboxBacklog: metrics does not know the
	// inbox's layout), is the inbox whose files are counted at scrape time; "" or
	// nil: no inbox metrics.
	Inbox      string
	CountInbox func(dir string) (ops.InboxFiles, error)
	// Build labels provisioner_build_info; zero: "unknown".
	Build Build
}

// Build is what the binary was built from (`provisioner version`).
type Build struct {
	Version, Revision string
}

// JobOutcomes are the outcomes a scheduler's run ends with: their counters exist
// from the start for every job of Options.Jobs.
var JobOutcomes = []string{"SUCCEEDED", "REJECTED", "FAILED", "SKIPPED", "INTERRUPTED"}

// Metrics holds the provisioner's metrics. Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	jobRuns     *prometheus.CounterVec
	jobDuration *prometheus.HistogramVec
	batches     *prometheus.CounterVec
	batchTime   *prometheus.HistogramVec
	commands    *prometheus.CounterVec
	results     *prometheus.CounterVec
	reconCards  *prometheus.CounterVec
	reconDrift  *prometheus.CounterVec
	reconFixes  prometheus.Counter
	reconLast   *prometheus.GaugeVec
}

// New returns the metrics; the queue figures are read from db at each scrape (db
// nil: left out).
func New(db *store.DB, opts Options) *Metrics {
	if opts.QueryTimeout == 0 {
		opts.QueryTimeout = 5 * time.Second
	}
	if opts.MinInterval == 0 {
		opts.MinInterval = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		opts.Log = l
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		jobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_job_runs_total",
			Help: "Runs of a job that ended, by job and outcome (SUCCEEDED, REJECTED, FAILED, SKIPPED, INTERRUPTED...).",
		}, []string{"job", "outcome"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "provisioner_job_duration_seconds",
			Help:    "How long runs of a job took, by job and outcome.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200},
		}, []string{"job", "outcome"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_gateway_batches_total",
			Help: "Batches sent to the CAS gateway, by HTTP status (none: no answer) and outcome (answered, throttled, malformed, refused, unknown).",
		}, []string{"status", "outcome"}),
		batchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "provisioner_gateway_batch_duration_seconds",
			Help:    "The CAS gateway's latency for one batch, from send to answer (or to giving up), by HTTP status and outcome.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"status", "outcome"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_gateway_commands_total",
			Help: "Commands sent to the CAS gateway in batches, by HTTP status and outcome of their batch.",
		}, []string{"status", "outcome"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_request_results_total",
			Help: "Requests written back after a send, by state (COMPLETED, REJECTED, or PENDING to be sent again) and error code (empty for COMPLETED).",
		}, []string{"state", "error_code"}),
		reconCards: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_reconcile_cards_total",
			Help: "Cards of reconciliation runs by what became of them: checked (compared with the gateway), in_sync, drifted, busy (skipped), unknown, disabled.",
		}, []string{"result"}),
		reconDrift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_reconcile_drift_total",
			Help: "Drift found by reconciliation runs, by kind (MISSING_PRODUCTS, EXTRA_PRODUCTS, WRONG_PAIRING, MISSING_PAIRING, UNEXPECTED_PAIRING).",
		}, []string{"kind"}),
		reconFixes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "provisioner_reconcile_corrections_total",
			Help: "Correction requests created by reconciliation runs (none for a dry, capped or failed run).",
		}),
		reconLast: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "provisioner_reconcile_last_run_timestamp_seconds",
			Help: "When the last reconciliation run of this process ended, by state (SUCCEEDED, CAPPED, FAILED, INTERRUPTED).",
		}, []string{"state"}),
	}
	for _, job := range opts.Jobs {
		for _, outcome := range JobOutcomes {
			m.jobRuns.WithLabelValues(job, outcome)
		}
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "provisioner_build_info",
		Help: "1, labelled with the version and VCS revision of the binary (provisioner version) and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": orUnknown(opts.Build.Version), "revision": orUnknown(opts.Build.Revision),
			"goversion": runtime.Version()},
	})
	build.Set(1)
	m.reg.MustRegister(m.jobRuns, m.jobDuration, m.batches, m.batchTime, m.commands, m.results, build,
		m.reconCards, m.reconDrift, m.reconFixes, m.reconLast,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		m.reg.MustRegister(&queueCollector{db: db, opts: opts})
		if len(opts.Jobs) > 0 {
			m.reg.MustRegister(&ledgerCollector{db: db, opts: opts})
		}
	}
	if opts.Inbox != "" && opts.CountInbox != nil {
		m.reg.MustRegister(&inboxCollector{opts: opts})
	}
	return m
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the metrics' registry, for a caller that adds its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// JobFinished records the end of one run of a job.
func (m *Metrics) JobFinished(job, outcome string, took time.Duration) {
	m.jobRuns.WithLabelValues(job, outcome).Inc()
	m.jobDuration.WithLabelValues(job, outcome).Observe(took.Seconds())
}

// BatchSent records one batch sent to the gateway (dispatcher.Observer).
func (m *Metrics) BatchSent(status, outcome string, commands int, took time.Duration) {
	m.batches.WithLabelValues(status, outcome).Inc()
	m.commands.WithLabelValues(status, outcome).Add(float64(commands))
	m.batchTime.WithLabelValues(status, outcome).Observe(took.Seconds())
}

// Results records n requests written back in state with errorCode
// (dispatcher.Observer).
func (m *Metrics) Results(state, errorCode string, n int) {
	m.results.WithLabelValues(state, errorCode).Add(float64(n))
}

// ReconcileDone records what a reconciliation run found (reconcile.Observer).
func (m *Metrics) ReconcileDone(s reconcile.Summary) {
	c := s.Counts
	for result, n := range map[string]int{"checked": c.Checked, "in_sync": c.InSync, "drifted": c.Drifted,
		"busy": c.Busy, "unknown": c.Unknown, "disabled": c.Disabled} {
		m.reconCards.WithLabelValues(result).Add(float64(n))
	}
	for kind, n := range map[string]int{reconcile.KindMissingProducts: c.MissingProducts, reconcile.KindExtraProducts: c.ExtraProducts,
		reconcile.KindWrongPairing: c.WrongPairing, reconcile.KindMissingPairing: c.MissingPairing, reconcile.KindExtraPairing: c.ExtraPairing} {
		m.reconDrift.WithLabelValues(kind).Add(float64(n))
	}
	if s.State == reconcile.Succeeded && !s.DryRun {
		m.reconFixes.Add(float64(c.Corrections))
	}
	m.reconLast.WithLabelValues(string(s.State)).Set(float64(time.Now().Unix()))
}

// queueCollector reads the queue from the database at scrape time.
type queueCollector struct {
	db   *store.DB
	opts Options

	mu       sync.Mutex // one read at a time; the others wait for its figures
	readAt   time.Time  // monotonic: when the last read began
	last     []prometheus.Metric
	haveRead bool
}

var (
	requestsDesc = prometheus.NewDesc("provisioner_requests",
		"Provisioning requests in the database, by life cycle state (PENDING is the queue) and priority.",
		[]string{"state", "priority"}, nil)
	pendingDesc = prometheus.NewDesc("provisioner_pending_requests",
		"PENDING requests by priority and what they wait for: due (claimable now: the next claim takes them), blocked (behind an earlier request of their smartcard), in_flight (claimed, lease holding), held (by an operator, until released), retry_wait (backing off after an unsettled send), scheduled (not due yet).",
		[]string{"priority", "wait"}, nil)
	blockedDesc = prometheus.NewDesc("provisioner_blocked_requests",
		"Blocked PENDING requests (wait=\"blocked\") by priority and what the earlier request of their smartcard that goes first waits for: due, in_flight, retry_wait, scheduled.",
		[]string{"priority", "blocked_by"}, nil)
	oldestDesc = prometheus.NewDesc("provisioner_oldest_pending_seconds",
		"How long the due PENDING request that has waited longest has waited (since its scheduled date, or its creation if later); due: claimable now, blocked ones not counted; 0 when none is due.",
		nil, nil)
	upDesc = prometheus.NewDesc("provisioner_queue_up",
		"1 if the queue figures of this scrape were read from the database, 0 if that failed (they are then left out).",
		nil, nil)
	pausedDesc = prometheus.NewDesc("provisioner_paused_since_seconds",
		"What is paused (provisioner pause): one series per paused job or the queue (target), by whom and why, its value the pause's start as a Unix time. No series: nothing paused.",
		[]string{"target", "by", "reason"}, nil)
	scrapeDesc = prometheus.NewDesc("provisioner_queue_scrape_duration_seconds",
		"How long reading the queue figures took.", nil, nil)
	lastSuccessDesc = prometheus.NewDesc("provisioner_job_last_success_timestamp_seconds",
		"When the last run of a job that did its work (SUCCEEDED, or REJECTED: some input refused) ended, by any instance, from the run ledger (Unix time); 0 if none did.",
		[]string{"job"}, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- requestsDesc
	ch <- pendingDesc
	ch <- blockedDesc
	ch <- oldestDesc
	ch <- upDesc
	ch <- pausedDesc
	ch <- scrapeDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.haveRead || c.opts.MinInterval < 0 || time.Since(c.readAt) >= c.opts.MinInterval {
		c.readAt, c.haveRead = time.Now(), true
		c.last = c.read()
	}
	for _, m := range c.last {
		ch <- m
	}
}

// read runs the queue query and returns the metrics it makes.
func (c *queueCollector) read() []prometheus.Metric {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.QueryTimeout)
	defer cancel()
	now := c.opts.Now()
	groups, err := ops.CountRequests(ctx, c.db, now)
	var pauses []ops.Pause
	if err == nil {
		pauses, err = ops.Paused(ctx, c.db)
	}
	out := []prometheus.Metric{prometheus.MustNewConstMetric(scrapeDesc, prometheus.GaugeValue, time.Since(start).Seconds())}
	if err != nil {
		c.opts.Log.WithError(err).Warn("metrics: the queue figures could not be read")
		return append(out, prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0))
	}
	out = append(out, prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1))
	// Every state and priority, 0 included: a series that vanishes when its queue
	// empties would break rate() and alerts on it.
	type key struct{ state, priority string }
	counts := map[key]int64{}
	for _, s := range []provisioning.State{provisioning.Pending, provisioning.Completed, provisioning.Rejected} {
		for _, p := range []provisioning.Priority{provisioning.Regular, provisioning.Express} {
			counts[key{string(s), string(p)}] = 0
		}
	}
	type wait struct{ priority, wait string }
	waits, blocked := map[wait]int64{}, map[wait]int64{}
	for _, p := range []provisioning.Priority{provisioning.Regular, provisioning.Express} {
		for _, w := range []ops.WaitKind{ops.WaitDue, ops.WaitBlocked, ops.WaitInFlight, ops.WaitHeld, ops.WaitRetry, ops.WaitScheduled} {
			waits[wait{string(p), string(w)}] = 0
		}
		for _, w := range []ops.WaitKind{ops.WaitDue, ops.WaitInFlight, ops.WaitHeld, ops.WaitRetry, ops.WaitScheduled} {
			blocked[wait{string(p), string(w)}] = 0
		}
	}
	var oldest time.Time
	for _, g := range groups {
		counts[key{g.State, g.Priority}] += g.Count
		if g.State != string(provisioning.Pending) {
			continue
		}
		waits[wait{g.Priority, string(ops.WaitDue)}] += g.Due
		waits[wait{g.Priority, string(ops.WaitBlocked)}] += g.BlockedBy.Total()
		waits[wait{g.Priority, string(ops.WaitInFlight)}] += g.InFlight
		waits[wait{g.Priority, string(ops.WaitHeld)}] += g.Held
		waits[wait{g.Priority, string(ops.WaitRetry)}] += g.RetryWait
		waits[wait{g.Priority, string(ops.WaitScheduled)}] += g.Scheduled
		blocked[wait{g.Priority, string(ops.WaitDue)}] += g.BlockedBy.Due
		blocked[wait{g.Priority, string(ops.WaitInFlight)}] += g.BlockedBy.InFlight
		blocked[wait{g.Priority, string(ops.WaitHeld)}] += g.BlockedBy.Held
		blocked[wait{g.Priority, string(ops.WaitRetry)}] += g.BlockedBy.RetryWait
		blocked[wait{g.Priority, string(ops.WaitScheduled)}] += g.BlockedBy.Scheduled
		if g.OldestDue != nil && (oldest.IsZero() || g.OldestDue.Before(oldest)) {
			oldest = *g.OldestDue
		}
	}
	for k, n := range counts {
		out = append(out, prometheus.MustNewConstMetric(requestsDesc, prometheus.GaugeValue, float64(n), k.state, k.priority))
	}
	for k, n := range waits {
		out = append(out, prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(n), k.priority, k.wait))
	}
	for _, p := range pauses {
		out = append(out, prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, float64(p.PausedAt.Unix()), p.Target, p.PausedBy, p.Reason))
	}
	for k, n := range blocked {
		out = append(out, prometheus.MustNewConstMetric(blockedDesc, prometheus.GaugeValue, float64(n), k.priority, k.wait))
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(now.Sub(oldest).Seconds(), 0)
	}
	return append(out, prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age))
}

// ledgerCollector reads the jobs' last successful runs from the run ledger at every
// scrape, not cached as the queue is: one index lookup per job, and a run counted
// in provisioner_job_runs_total is then always in it too (the ledger records a
// run's end before the observer counts it).
type ledgerCollector struct {
	db   *store.DB
	opts Options
}

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lastSuccessDesc }

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.QueryTimeout)
	defer cancel()
	last, err := ops.LastSuccess(ctx, c.db, c.opts.Jobs)
	if err != nil {
		// Left out: provisioner_queue_up says whether the database answers.
		c.opts.Log.WithError(err).Warn("metrics: the jobs' last successful runs could not be read")
		return
	}
	for _, job := range c.opts.Jobs {
		ts := 0.0
		if t, ok := last[job]; ok {
			ts = float64(t.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, ts, job)
	}
}

var (
	inboxDesc = prometheus.NewDesc("provisioner_inbox_files",
		"Files of the inbox, counted at scrape time by the import's rules: waiting (to be imported), processing (being imported, or left by an import that died), failed (refused whole: someone must look).",
		[]string{"state"}, nil)
	inboxOldestDesc = prometheus.NewDesc("provisioner_inbox_oldest_waiting_seconds",
		"Since the oldest waiting file of the inbox was last changed; 0 when none waits.", nil, nil)
	inboxUpDesc = prometheus.NewDesc("provisioner_inbox_up",
		"1 if the inbox could be read at this scrape, 0 if not (the inbox figures are then left out).", nil, nil)
)

// inboxCollector counts the inbox's files at scrape time: a listing of three
// folders, cheap enough for every scrape.
type inboxCollector struct{ opts Options }

func (c *inboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- inboxDesc
	ch <- inboxOldestDesc
	ch <- inboxUpDesc
}

func (c *inboxCollector) Collect(ch chan<- prometheus.Metric) {
	b, err := c.opts.CountInbox(c.opts.Inbox)
	if err != nil {
		c.opts.Log.WithError(err).Warn("metrics: the inbox could not be counted")
		ch <- prometheus.MustNewConstMetric(inboxUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(inboxUpDesc, prometheus.GaugeValue, 1)
	for state, n := range map[string]int{"waiting": b.Waiting, "processing": b.Processing, "failed": b.Failed} {
		ch <- prometheus.MustNewConstMetric(inboxDesc, prometheus.GaugeValue, float64(n), state)
	}
	age := 0.0
	if !b.OldestWaiting.IsZero() {
		age = max(c.opts.Now().Sub(b.OldestWaiting).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(inboxOldestDesc, prometheus.GaugeValue, age)
}

// Serve serves the metrics on ln at /metrics until ctx is done, then shuts the
// server down (waiting at most 5s for scrapes in progress). The caller listens, so
// that a bad or busy address is an error at start, before any job runs.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve metrics: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("stop serving metrics: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics: %w", err)
	}
	return nil
}
