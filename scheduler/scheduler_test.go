package scheduler_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/scheduler"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

// finished is an Observer that hands every run to the test.
type finished chan string

func (f finished) JobFinished(job, state string, took time.Duration) { f <- job + " " + state }

// await waits for n runs and returns their "job STATE".
func (f finished) await(t *testing.T, n int, within time.Duration) []string {
	t.Helper()
	var got []string
	deadline := time.After(within)
	for len(got) < n {
		select {
		case s := <-f:
			got = append(got, s)
		case <-deadline:
			t.Fatalf("%d runs within %v, want %d: %q", len(got), within, n, got)
		}
	}
	return got
}

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// perSecond returns a configuration that runs the job in the import slot every second.
func perSecond(t *testing.T, catchUp bool) *config.Config {
	t.Helper()
	c := config.Default()
	c.Path = "test.toml"
	s, err := config.ParseSchedule("* * * * * *", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	c.Import.Job = config.Job{Schedule: "* * * * * *", Cron: s, CatchUp: catchUp}
	return c
}

// started is a running scheduler.
type started struct {
	s    *scheduler.Scheduler
	stop context.CancelFunc
	done chan error
}

func start(t *testing.T, opts scheduler.Options) *started {
	t.Helper()
	if opts.Log == nil {
		opts.Log = quietLog()
	}
	s, err := scheduler.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st := &started{s: s, stop: cancel, done: make(chan error, 1)}
	go func() { st.done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-st.done })
	return st
}

// shutdown cancels the scheduler's context (SIGTERM) and waits for Run to return.
func (st *started) shutdown(t *testing.T) time.Duration {
	t.Helper()
	began := time.Now()
	st.stop()
	if err := <-st.done; err != nil {
		t.Fatalf("run: %v", err)
	}
	st.done <- nil // for the cleanup
	return time.Since(began)
}

type ledgerRow struct {
	ID       int64      `db:"id"`
	Tick     time.Time  `db:"tick"`
	Trigger  string     `db:"trigger"`
	Instance string     `db:"instance"`
	State    string     `db:"state"`
	Started  time.Time  `db:"started_at"`
	Finished *time.Time `db:"finished_at"`
	Error    string     `db:"error"`
	Counts   string     `db:"counts"`
}

func ledger(t *testing.T, db *store.DB, job string) []ledgerRow {
	t.Helper()
	var rows []ledgerRow
	if err := db.Select(&rows, `SELECT id, tick, trigger, instance, state, started_at, finished_at, coalesce(error, '') AS error, counts::text AS counts
	    FROM job_runs WHERE job = $1 ORDER BY tick, id`, job); err != nil {
		t.Fatal(err)
	}
	return rows
}

// checkTicks: one row per tick, a second apart, none missing.
func checkTicks(t *testing.T, rows []ledgerRow) {
	t.Helper()
	for i := 1; i < len(rows); i++ {
		if d := rows[i].Tick.Sub(rows[i-1].Tick); d != time.Second {
			t.Errorf("ticks %v and %v (runs %d, %d): %v apart, want exactly 1s (no gap, no tick twice)",
				rows[i-1].Tick, rows[i].Tick, rows[i-1].ID, rows[i].ID, d)
		}
	}
}

// TestTwoInstancesEachTickOnce: two schedulers on one database run every tick of a
// per-second job exactly once between them.
func TestTwoInstancesEachTickOnce(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	var calls atomic.Int64
	job := func(ctx context.Context, env jobs.Env) (jobs.Result, error) {
		calls.Add(1)
		return jobs.Result{Counts: map[string]int{"n": 1}}, nil
	}
	runs := make(finished, 100)
	var all []*started
	for _, name := range []string{"a", "b"} {
		all = append(all, start(t, scheduler.Options{DB: db, Config: perSecond(t, false), Instance: name,
			Jobs: map[string]jobs.Job{"import": job}, Observer: runs}))
	}
	got := runs.await(t, 22, 40*time.Second)
	for _, st := range all {
		st.shutdown(t)
	}
	for _, s := range got {
		if s != "import SUCCEEDED" {
			t.Errorf("run %q", s)
		}
	}
	rows := ledger(t, db, "import")
	if len(rows) < 22 || int(calls.Load()) != len(rows) {
		t.Fatalf("%d ledger rows, %d calls: want at least 22, one call per row", len(rows), calls.Load())
	}
	checkTicks(t, rows)
	by := map[string]int{}
	for _, r := range rows {
		by[r.Instance]++
		if r.State != "SUCCEEDED" || r.Trigger != "SCHEDULE" || r.Counts != `{"n": 1}` || r.Tick.Nanosecond() != 0 {
			t.Errorf("run %+v", r)
		}
	}
	t.Logf("%d ticks: instance a ran %d, b ran %d", len(rows), by["a"], by["b"])
	if by["a"]+by["b"] != len(rows) {
		t.Errorf("instances %v", by)
	}
}

// TestSlowJobNeverOverlaps: a job slower than its interval, on two instances, never
// runs twice at once; the ticks that come while it runs are SKIPPED, naming the run.
func TestSlowJobNeverOverlaps(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	var inside, most atomic.Int64
	job := func(ctx context.Context, env jobs.Env) (jobs.Result, error) {
		n := inside.Add(1)
		defer inside.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		select {
		case <-time.After(2200 * time.Millisecond):
		case <-ctx.Done():
		}
		return jobs.Result{}, nil
	}
	runs := make(finished, 100)
	var all []*started
	for _, name := range []string{"a", "b"} {
		all = append(all, start(t, scheduler.Options{DB: db, Config: perSecond(t, false), Instance: name,
			Jobs: map[string]jobs.Job{"import": job}, Observer: runs}))
	}
	succeeded := 0
	for succeeded < 3 {
		if runs.await(t, 1, 15*time.Second)[0] == "import SUCCEEDED" {
			succeeded++
		}
	}
	for _, st := range all {
		st.shutdown(t)
	}
	if most.Load() != 1 {
		t.Errorf("%d runs at once, want 1", most.Load())
	}
	rows := ledger(t, db, "import")
	checkTicks(t, rows)
	var ran []ledgerRow
	skipped := 0
	for _, r := range rows {
		switch r.State {
		case "SUCCEEDED", "INTERRUPTED":
			ran = append(ran, r)
		case "SKIPPED":
			skipped++
			if !strings.HasPrefix(r.Error, "still running: run ") || r.Finished == nil {
				t.Errorf("skipped run %+v: want the running run named", r)
			}
		default:
			t.Errorf("run %+v", r)
		}
	}
	for i := 1; i < len(ran); i++ {
		if ran[i-1].Finished == nil || ran[i].Started.Before(*ran[i-1].Finished) {
			t.Errorf("run %d [%v, %v] overlaps run %d starting %v", ran[i-1].ID, ran[i-1].Started, ran[i-1].Finished, ran[i].ID, ran[i].Started)
		}
	}
	// A 2.2 s run spans two ticks; the second comes 0.2 s before its end at worst, a
	// margin a busy machine can eat (the tick is then run, not skipped, which is
	// right). The first comes 1.2 s before the end: at least that one is skipped.
	if len(ran) < 3 || skipped < len(ran)-1 {
		t.Errorf("%d runs and %d skipped ticks: a 2.2 s job every second skips at least 1 tick a run", len(ran), skipped)
	}
}

// TestPanicRecorded: a job that panics is recorded FAILED with the panic and where,
// and the next tick runs.
func TestPanicRecorded(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	var calls atomic.Int64
	job := func(ctx context.Context, env jobs.Env) (jobs.Result, error) {
		if calls.Add(1) == 1 {
			var m map[string]int
			m["boom"]++ // a nil map: a runtime panic
		}
		return jobs.Result{}, nil
	}
	runs := make(finished, 10)
	st := start(t, scheduler.Options{DB: db, Config: perSecond(t, false), Jobs: map[string]jobs.Job{"import": job}, Observer: runs})
	got := runs.await(t, 2, 10*time.Second)
	st.shutdown(t)
	if got[0] != "import FAILED" || got[1] != "import SUCCEEDED" {
		t.Errorf("runs %q", got)
	}
	rows := ledger(t, db, "import")
	if len(rows) < 2 || rows[0].State != "FAILED" || rows[1].State != "SUCCEEDED" || rows[1].Tick.Sub(rows[0].Tick) != time.Second {
		t.Fatalf("ledger %+v", rows)
	}
	if !strings.HasPrefix(rows[0].Error, "panic: assignment to entry in nil map (at ") || !strings.Contains(rows[0].Error, "scheduler_test.go:") {
		t.Errorf("error %q: want the panic and where", rows[0].Error)
	}
}

// The CA ids the simulated gateway knows.
var cards = []string{"1000000001", "1000000002", "1000000003", "1000000004", "1000000005", "1000000006", "1000000007"}

// TestShutdownReleases: SIGTERM during a processing run against a slow gateway, with
// a grace period shorter than the run: the run is cancelled, finishes its batches in
// flight, gives back the rest, and no request is left claimed.
func TestShutdownReleases(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	sim := simulator.New(simulator.Config{Token: "tok", DestinationID: "CRM01", Seed: 1, Faults: simulator.Faults{Latency: 300 * time.Millisecond}},
		simulator.Known{Smartcards: cards})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	reqs := make([]pgtest.RequestOpts, 200)
	for i := range reqs {
		reqs[i].Smartcard = cards[i%len(cards)]
	}
	pgtest.Requests(t, db, reqs...)
	c := config.Default()
	c.Path = "test.toml"
	c.Gateway.URL, c.Gateway.Token, c.Gateway.Destination, c.Gateway.BatchTimeout = srv.URL, "tok", "CRM01", 5*time.Second
	c.Process.BatchSize, c.Process.Concurrency = 2, 2
	c.Process.Schedule = "* * * * * *"
	c.Process.Cron, _ = config.ParseSchedule(c.Process.Schedule, time.UTC)
	c.Scheduler.GracePeriod = 300 * time.Millisecond
	st := start(t, scheduler.Options{DB: db, Config: c})

	// Wait for the run to be well under way: some requests done.
	deadline := time.Now().Add(10 * time.Second)
	for completed := 0; completed < 4; {
		if time.Now().After(deadline) {
			t.Fatal("the processing run did not get going")
		}
		time.Sleep(50 * time.Millisecond) // polling the database for the run's progress
		db.Get(&completed, "SELECT count(*) FROM provisioning_requests WHERE life_cycle_state = 'COMPLETED'")
	}
	took := st.shutdown(t)
	// The grace period, then at most the batches in flight (300 ms each) and their write-back.
	if took > c.Scheduler.GracePeriod+5*time.Second {
		t.Errorf("shutdown took %v", took)
	}
	var claimed, live, pending int
	db.Get(&claimed, "SELECT count(*) FROM provisioning_requests WHERE claimed_by IS NOT NULL")
	db.Get(&live, "SELECT count(*) FROM provisioning_requests WHERE lease_expires_at > now()")
	db.Get(&pending, "SELECT count(*) FROM provisioning_requests WHERE life_cycle_state = 'PENDING'")
	if claimed != 0 || live != 0 || pending == 0 {
		t.Errorf("after shutdown: %d claimed, %d with a live lease, %d pending (want 0, 0, some)", claimed, live, pending)
	}
	rows := ledger(t, db, "process")
	if len(rows) == 0 || rows[0].State != "INTERRUPTED" {
		t.Fatalf("ledger %+v: want the first run INTERRUPTED", rows)
	}
	for _, r := range rows[1:] {
		if r.State != "SKIPPED" {
			t.Errorf("tick during the run: %+v, want SKIPPED", r)
		}
	}
	var state string
	db.Get(&state, "SELECT state FROM processes ORDER BY id LIMIT 1")
	if state != "INTERRUPTED" {
		t.Errorf("process state %s", state)
	}
}

// TestStart: at start, a RUNNING run whose instance died is marked ABANDONED, and
// missed ticks are caught up once, for the latest, when the policy says so; metrics
// are served at /metrics.
func TestStart(t *testing.T) {
	t.Parallel()
	for _, catchUp := range []bool{true, false} {
		db, _ := pgtest.New(t)
		last := time.Now().UTC().Truncate(time.Second).Add(-10 * time.Second)
		db.MustExec(`INSERT INTO job_runs (job, tick, trigger, instance, state, started_at, finished_at) VALUES ('import', $1, 'SCHEDULE', 'old:1', 'SUCCEEDED', $1, $1)`, last)
		db.MustExec(`INSERT INTO job_runs (job, tick, trigger, instance, started_at) VALUES ('process', $1, 'SCHEDULE', 'dead:1', $1)`, last)
		runs := make(finished, 10)
		c := perSecond(t, catchUp)
		c.Scheduler.MetricsListen = "127.0.0.1:0"
		began := time.Now()
		metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "provisioner_test 1\n") })
		st := start(t, scheduler.Options{DB: db, Config: c, Jobs: map[string]jobs.Job{"import": func(context.Context, jobs.Env) (jobs.Result, error) { return jobs.Result{}, nil }},
			Observer: runs, Metrics: metrics})
		runs.await(t, 2, 10*time.Second)
		addr := st.s.MetricsAddr()
		st.shutdown(t)

		rows := ledger(t, db, "import")
		var catchUps []ledgerRow
		for _, r := range rows {
			if r.Trigger == "CATCH_UP" {
				catchUps = append(catchUps, r)
			}
		}
		switch {
		case catchUp && (len(catchUps) != 1 || catchUps[0].Tick.After(began.Add(time.Second)) || began.Sub(catchUps[0].Tick) > time.Second):
			t.Errorf("catch up: %+v, want one, for the latest tick before the start %v", catchUps, began)
		case !catchUp && len(catchUps) != 0:
			t.Errorf("no catch up: %+v", catchUps)
		}
		if p := ledger(t, db, "process"); p[0].State != "ABANDONED" || !strings.Contains(p[0].Error, "its instance dead:1 stopped while it ran") {
			t.Errorf("the dead instance's run: %+v", p[0])
		}
		if !catchUp {
			continue
		}
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			t.Errorf("metrics still served after shutdown at %s", addr)
			resp.Body.Close()
		}
	}
}

// TestMetricsServed: the handler given is served at /metrics on metrics_listen.
func TestMetricsServed(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	c := perSecond(t, false)
	c.Scheduler.MetricsListen = "127.0.0.1:0"
	runs := make(finished, 10)
	st := start(t, scheduler.Options{DB: db, Config: c, Observer: runs,
		Jobs:    map[string]jobs.Job{"import": func(context.Context, jobs.Env) (jobs.Result, error) { return jobs.Result{}, nil }},
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "provisioner_test 1\n") })})
	runs.await(t, 1, 5*time.Second) // listening before the first run
	resp, err := http.Get("http://" + st.s.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "provisioner_test 1\n" {
		t.Errorf("GET /metrics: %d %q", resp.StatusCode, body)
	}
	if resp, err := http.Get("http://" + st.s.MetricsAddr() + "/other"); err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /other: %v %v", resp, err)
	}
	st.shutdown(t)
}

// TestReload: a reloaded configuration takes over from the next tick; a
// configuration that schedules nothing is refused.
func TestReload(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	var mu sync.Mutex
	ran := map[string]int{}
	job := func(name string) jobs.Job {
		return func(context.Context, jobs.Env) (jobs.Result, error) {
			mu.Lock()
			ran[name]++
			mu.Unlock()
			return jobs.Result{}, nil
		}
	}
	runs := make(finished, 20)
	var notified []string // what systemd would be told
	st := start(t, scheduler.Options{DB: db, Config: perSecond(t, false), Observer: runs,
		Jobs:   map[string]jobs.Job{"import": job("import"), "housekeeping": job("housekeeping")},
		Notify: func(s string) { mu.Lock(); notified = append(notified, s); mu.Unlock() }})
	runs.await(t, 1, 5*time.Second)

	none := config.Default()
	if err := st.s.Reload(context.Background(), none); err == nil || !strings.Contains(err.Error(), "schedules no job") {
		t.Errorf("reload of nothing: %v", err)
	}
	next := config.Default()
	next.Housekeeping.Schedule = "* * * * * *"
	next.Housekeeping.Cron, _ = config.ParseSchedule(next.Housekeeping.Schedule, time.UTC)
	if err := st.s.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	for got := ""; got != "housekeeping SUCCEEDED"; {
		got = runs.await(t, 1, 5*time.Second)[0]
	}
	mu.Lock()
	before := ran["import"]
	mu.Unlock()
	runs.await(t, 2, 5*time.Second)
	st.shutdown(t)
	mu.Lock()
	defer mu.Unlock()
	if ran["import"] != before {
		t.Errorf("import ran %d times after the reload unscheduled it", ran["import"]-before)
	}
	want := []string{"READY=1\nSTATUS=scheduling import (* * * * * *)", "STATUS=scheduling housekeeping (* * * * * *)",
		"STOPPING=1\nSTATUS=stopping: waiting up to 2m0s for the running jobs"}
	if !slices.Equal(notified, want) {
		t.Errorf("notified %q, want %q", notified, want)
	}
}

// TestNothingScheduled: a scheduler with nothing to do refuses to start.
func TestNothingScheduled(t *testing.T) {
	c := config.Default()
	c.Path = "empty.toml"
	_, err := scheduler.New(scheduler.Options{Config: c, Log: quietLog()})
	if err == nil || !strings.Contains(err.Error(), "empty.toml schedules no job") {
		t.Errorf("%v", err)
	}
}

// TestCancelJobs: a second SIGTERM (CancelJobs) does not wait for the grace period.
func TestCancelJobs(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	c := perSecond(t, false)
	c.Scheduler.GracePeriod = time.Hour
	running := make(chan struct{}, 10)
	job := func(ctx context.Context, env jobs.Env) (jobs.Result, error) {
		running <- struct{}{}
		<-ctx.Done()
		return jobs.Result{}, nil
	}
	runs := make(finished, 10)
	st := start(t, scheduler.Options{DB: db, Config: c, Jobs: map[string]jobs.Job{"import": job}, Observer: runs})
	<-running
	st.stop()
	time.AfterFunc(200*time.Millisecond, st.s.CancelJobs)
	select {
	case err := <-st.done:
		st.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after CancelJobs")
	}
	// Run has returned: every run has been told.
	interrupted := 0
	for len(runs) > 0 {
		switch got := <-runs; got {
		case "import INTERRUPTED":
			interrupted++
		case "import SKIPPED":
		default:
			t.Errorf("run %q", got)
		}
	}
	if interrupted != 1 {
		t.Errorf("%d runs INTERRUPTED, want 1", interrupted)
	}
}

// TestPauseReachesEveryInstance: a job paused in the database is skipped by both
// schedulers on it from the next tick on (every tick a second or more after the
// pause is SKIPPED with the pause's reason, whichever instance claimed it), and
// runs again once resumed.
func TestPauseReachesEveryInstance(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	ctx := context.Background()
	var calls atomic.Int64
	job := func(ctx context.Context, env jobs.Env) (jobs.Result, error) {
		calls.Add(1)
		return jobs.Result{}, nil
	}
	runs := make(finished, 200)
	for _, name := range []string{"a", "b"} {
		start(t, scheduler.Options{DB: db, Config: perSecond(t, false), Instance: name,
			Jobs: map[string]jobs.Job{"import": job}, Observer: runs})
	}
	runs.await(t, 2, 20*time.Second)
	if _, err := ops.SetPause(ctx, db, "import", "card migration", ops.Actor{Operator: "alice"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	p, err := ops.PauseOf(ctx, db, "import")
	if err != nil || p == nil {
		t.Fatalf("pause: %+v %v", p, err)
	}
	// Wait, run by run, until each instance has skipped a tick.
	skippedBy := func() map[string]int {
		by := map[string]int{}
		for _, r := range ledger(t, db, "import") {
			if r.State == "SKIPPED" {
				by[r.Instance]++
			}
		}
		return by
	}
	deadline := time.After(60 * time.Second)
	for by := skippedBy(); by["a"] == 0 || by["b"] == 0; by = skippedBy() {
		select {
		case <-runs:
		case <-deadline:
			t.Fatalf("not both instances skipped a tick within 60s of the pause: %v", by)
		}
	}
	callsPaused := calls.Load()
	for _, r := range ledger(t, db, "import") {
		if !r.Tick.Before(p.PausedAt.Add(time.Second)) && (r.State != "SKIPPED" || !strings.Contains(r.Error, "paused by alice since ") || !strings.HasSuffix(r.Error, ": card migration")) {
			t.Errorf("tick %v, a second or more after the pause at %v: %s %q on %s", r.Tick, p.PausedAt, r.State, r.Error, r.Instance)
		}
	}
	if ended, err := ops.Resume(ctx, db, "import", ops.Actor{Operator: "alice"}, time.Now()); err != nil || ended == nil {
		t.Fatalf("resume: %+v %v", ended, err)
	}
	deadline = time.After(30 * time.Second)
	for calls.Load() == callsPaused {
		select {
		case <-runs:
		case <-deadline:
			t.Fatal("the job did not run within 30s of the resume")
		}
	}
	es, err := ops.ListAudit(ctx, db, ops.AuditFilter{Operator: "alice"})
	if err != nil || len(es) != 2 || es[0].Action != ops.ActionResume || es[1].Action != ops.ActionPause {
		t.Errorf("audit: %+v %v", es, err)
	}
}
