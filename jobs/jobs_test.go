package jobs_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/store"
)

func env(t *testing.T, db *store.DB) jobs.Env {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return jobs.Env{DB: db, Log: l, Config: config.Default()}
}

func count(t *testing.T, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHousekeeping: on a database with known contents, housekeeping deletes exactly
// what is past its age, keeps each job's last run, marks the dead processing run
// FAILED (not the live one, nor the young one), and the dead instance's job run
// ABANDONED.
func TestHousekeeping(t *testing.T) {
	db, _ := pgtest.New(t)
	e := env(t, db)
	e.Config.Housekeeping.RequestsAfter = 30 * 24 * time.Hour
	now := time.Now()
	ago := func(days int) *time.Time { return pgtest.Ptr(now.AddDate(0, 0, -days)) }
	pgtest.Requests(t, db,
		pgtest.RequestOpts{Smartcard: "c1", State: "COMPLETED", ExecutedDate: ago(40)},
		pgtest.RequestOpts{Smartcard: "c2", State: "REJECTED", ExecutedDate: ago(31)},
		pgtest.RequestOpts{Smartcard: "c3", State: "COMPLETED", ExecutedDate: ago(29)},
		pgtest.RequestOpts{Smartcard: "c4", UpdatedAt: ago(50)}) // pending, untouched for long
	db.MustExec(`INSERT INTO job_runs (job, tick, trigger, instance, state, started_at, finished_at) VALUES
	    ('import', now() - interval '100 days', 'SCHEDULE', 'h:1', 'SUCCEEDED', now() - interval '100 days', now() - interval '100 days'),
	    ('import', now() - interval '95 days',  'SCHEDULE', 'h:1', 'FAILED',    now() - interval '95 days',  now() - interval '95 days'),
	    ('import', now() - interval '1 day',    'SCHEDULE', 'h:1', 'SUCCEEDED', now() - interval '1 day',    now() - interval '1 day'),
	    ('process', now() - interval '200 days', 'SCHEDULE', 'h:1', 'SUCCEEDED', now() - interval '200 days', now() - interval '200 days')`)
	db.MustExec(`INSERT INTO job_runs (job, tick, trigger, instance, started_at) VALUES ('process', now() - interval '1 hour', 'SCHEDULE', 'dead:9', now() - interval '1 hour')`)
	var dead, live, young, old int64
	db.Get(&dead, `INSERT INTO processes (name, host, pid, started_at) VALUES ('P', 'h', 1, now() - interval '7 hours') RETURNING id`)
	db.Get(&live, `INSERT INTO processes (name, host, pid, started_at) VALUES ('P', 'h', 2, now() - interval '7 hours') RETURNING id`)
	db.Get(&young, `INSERT INTO processes (name, host, pid, started_at) VALUES ('P', 'h', 3, now() - interval '1 hour') RETURNING id`)
	db.Get(&old, `INSERT INTO processes (name, host, pid, state, started_at, finished_at) VALUES ('P', 'h', 4, 'SUCCEEDED', now() - interval '91 days', now() - interval '91 days') RETURNING id`)
	pgtest.Request(t, db, pgtest.RequestOpts{Smartcard: "c5", ClaimedBy: live, LeaseExpiresAt: pgtest.Ptr(time.Now().Add(time.Minute))})

	res, err := jobs.Housekeeping(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"requests_deleted": 2, "job_runs_deleted": 2, "processes_deleted": 1, "processes_marked_failed": 1, "runs_abandoned": 1}
	for k, v := range want {
		if res.Counts[k] != v {
			t.Errorf("%s = %d, want %d (%v)", k, res.Counts[k], v, res.Counts)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM provisioning_requests WHERE smartcard_ca_id IN ('c3', 'c4', 'c5')`); n != 3 || count(t, db, `SELECT count(*) FROM provisioning_requests`) != 3 {
		t.Errorf("requests left: want c3, c4 (pending), c5")
	}
	if n := count(t, db, `SELECT count(*) FROM job_runs WHERE job = 'process' AND state = 'SUCCEEDED'`); n != 1 {
		t.Errorf("the process job's only finished run, 200 days old, was deleted: it is its last")
	}
	if n := count(t, db, `SELECT count(*) FROM job_runs WHERE instance = 'dead:9' AND state = 'ABANDONED'`); n != 1 {
		t.Errorf("the dead instance's run is not ABANDONED")
	}
	states := map[int64]string{}
	rows, _ := db.Query(`SELECT id, state FROM processes`)
	for rows.Next() {
		var id int64
		var s string
		rows.Scan(&id, &s)
		states[id] = s
	}
	rows.Close()
	if states[dead] != "FAILED" || states[live] != "RUNNING" || states[young] != "RUNNING" || states[old] != "" {
		t.Errorf("processes %v: want dead %d FAILED, live %d and young %d RUNNING, old %d deleted", states, dead, live, young, old)
	}
	// Off by default: requests are kept.
	e.Config.Housekeeping.RequestsAfter = 0
	if res, _ := jobs.Housekeeping(context.Background(), e); res.Counts["requests_deleted"] != 0 || count(t, db, `SELECT count(*) FROM provisioning_requests`) != 3 {
		t.Errorf("requests_after = 0 deleted requests")
	}
}

// TestManualRuns: MANUAL runs never conflict with each other, a run that meets the
// job's lock is SKIPPED naming the holder, and outcomes map to the ledger's states.
func TestManualRuns(t *testing.T) {
	db, _ := pgtest.New(t)
	e := env(t, db)
	l := &jobs.Ledger{DB: db, Log: e.Log, Instance: "test:1"}
	ctx := context.Background()
	cases := []struct {
		fn    jobs.Job
		state jobs.State
		err   string
	}{
		{func(context.Context, jobs.Env) (jobs.Result, error) { return jobs.Result{}, nil }, jobs.Succeeded, ""},
		{func(context.Context, jobs.Env) (jobs.Result, error) { return jobs.Result{Rejected: 2}, nil }, jobs.Rejected, ""},
		{func(context.Context, jobs.Env) (jobs.Result, error) { return jobs.Result{}, errors.New("disk full") }, jobs.Failed, "disk full"},
		{func(context.Context, jobs.Env) (jobs.Result, error) { panic("boom") }, jobs.Failed, "panic: boom (at "},
	}
	for _, tc := range cases {
		run, err := l.Run(ctx, "process", time.Time{}, jobs.Manual, tc.fn, e)
		if err != nil {
			t.Fatal(err)
		}
		var state, msg string
		db.QueryRow(`SELECT state, coalesce(error, '') FROM job_runs WHERE id = $1`, run.ID).Scan(&state, &msg)
		if run.State != tc.state || state != string(tc.state) || !strings.HasPrefix(msg, tc.err) {
			t.Errorf("run %+v recorded %s %q, want %s %q", run, state, msg, tc.state, tc.err)
		}
	}

	// A run holding the lock; another one meanwhile is SKIPPED.
	release := make(chan struct{})
	holding := make(chan struct{})
	done := make(chan jobs.Run)
	go func() {
		run, _ := l.Run(ctx, "process", time.Time{}, jobs.Manual, func(context.Context, jobs.Env) (jobs.Result, error) {
			close(holding)
			<-release
			return jobs.Result{}, nil
		}, e)
		done <- run
	}()
	<-holding
	skipped, err := l.Run(ctx, "process", time.Time{}, jobs.Manual, func(context.Context, jobs.Env) (jobs.Result, error) {
		t.Error("ran while the job was running")
		return jobs.Result{}, nil
	}, e)
	close(release)
	holder := <-done
	if err != nil || skipped.State != jobs.Skipped || !strings.HasPrefix(skipped.Err.Error(), "still running: run ") ||
		!strings.Contains(skipped.Err.Error(), " on test:1 since ") || holder.State != jobs.Succeeded {
		t.Errorf("skipped %+v (%v), holder %+v", skipped, err, holder)
	}
	if n := count(t, db, `SELECT count(*) FROM job_runs WHERE trigger = 'MANUAL'`); n != 6 {
		t.Errorf("%d MANUAL rows, want 6", n)
	}

	// A scheduled tick runs once: the second claim is turned away.
	tick := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ok := func(context.Context, jobs.Env) (jobs.Result, error) { return jobs.Result{}, nil }
	if _, err := l.Run(ctx, "import", tick, jobs.Scheduled, ok, e); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Run(ctx, "import", tick, jobs.CatchUp, ok, e); !errors.Is(err, jobs.ErrTaken) {
		t.Errorf("second claim of a tick: %v", err)
	}
	// A RUNNING run whose instance died (its lock is free) is ABANDONED by the job's
	// next run.
	var gone int64
	db.Get(&gone, `INSERT INTO job_runs (job, tick, trigger, instance) VALUES ('import', now() - interval '1 hour', 'SCHEDULE', 'gone:1') RETURNING id`)
	if _, err := l.Run(ctx, "import", time.Time{}, jobs.Manual, ok, e); err != nil {
		t.Fatal(err)
	}
	var state, msg string
	db.QueryRow(`SELECT state, error FROM job_runs WHERE id = $1`, gone).Scan(&state, &msg)
	if state != "ABANDONED" || msg != "its instance gone:1 stopped while it ran (its lock was free)" {
		t.Errorf("the dead instance's run: %s %q", state, msg)
	}
	// Interrupted: the context cancelled during the run.
	cctx, cancel := context.WithCancel(ctx)
	run, _ := l.Run(cctx, "import", time.Time{}, jobs.Manual, func(context.Context, jobs.Env) (jobs.Result, error) { cancel(); return jobs.Result{}, nil }, e)
	if run.State != jobs.Interrupted {
		t.Errorf("cancelled run %s", run.State)
	}
}

// TestLostLock: when the connection holding a run's lock dies, the lock is gone and
// another instance could start the job: the run is stopped and recorded FAILED.
func TestLostLock(t *testing.T) {
	db, _ := pgtest.New(t)
	e := env(t, db)
	l := &jobs.Ledger{DB: db, Log: e.Log, Instance: "test:1", LockCheck: 50 * time.Millisecond}
	holding := make(chan struct{})
	stopped := make(chan error, 1)
	done := make(chan jobs.Run)
	go func() {
		run, _ := l.Run(context.Background(), "process", time.Time{}, jobs.Manual, func(ctx context.Context, _ jobs.Env) (jobs.Result, error) {
			close(holding)
			select {
			case <-ctx.Done():
				stopped <- ctx.Err()
			case <-time.After(10 * time.Second):
				stopped <- nil
			}
			return jobs.Result{}, nil
		}, e)
		done <- run
	}()
	<-holding
	var killed int
	if err := db.Get(&killed, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
	    WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil || killed != 1 {
		t.Fatalf("terminate the lock's session: %d, %v", killed, err)
	}
	run := <-done
	if err := <-stopped; err == nil {
		t.Error("the job was not stopped")
	}
	var state, msg string
	db.QueryRow(`SELECT state, error FROM job_runs WHERE id = $1`, run.ID).Scan(&state, &msg)
	if run.State != jobs.Failed || state != "FAILED" || !strings.HasPrefix(msg, "lost the job's lock") {
		t.Errorf("run %+v recorded %s %q", run, state, msg)
	}
}

// TestNames: Names is the registry's, sorted by name (the order status and config
// check list the jobs in), All has each, and the configuration has a table for each.
func TestNames(t *testing.T) {
	keys := slices.Sorted(maps.Keys(jobs.All))
	if got := jobs.Names(); !slices.Equal(got, keys) || len(jobs.Registry) != len(keys) {
		t.Errorf("Names() = %v, All has %v", got, keys)
	}
	if got := slices.Sorted(maps.Keys(config.Default().Jobs())); !slices.Equal(got, keys) {
		t.Errorf("config's jobs %v, All has %v", got, keys)
	}
}

// finishedHook notes, for each log entry of a run's end, how many runs the ledger
// had told Finished of by then.
type finishedHook struct {
	told *int
	seen []int
}

func (h *finishedHook) Levels() []logrus.Level { return logrus.AllLevels }
func (h *finishedHook) Fire(e *logrus.Entry) error {
	if strings.HasPrefix(e.Message, "job finished") || e.Message == "job did not finish" || strings.HasPrefix(e.Message, "skipped") {
		h.seen = append(h.seen, *h.told)
	}
	return nil
}

// TestFinishedBeforeLogged: the ledger tells Finished of a run before it logs the
// run's end, so that whoever reads "job finished" (a test, an operator) finds the
// run counted in the metrics (issue 11: the scheduler's test scraped /metrics on
// seeing the line, before the run was counted).
func TestFinishedBeforeLogged(t *testing.T) {
	db, _ := pgtest.New(t)
	e := env(t, db)
	told := 0
	hook := &finishedHook{told: &told}
	log := logrus.New()
	log.SetOutput(io.Discard)
	log.AddHook(hook)
	var got []string
	l := &jobs.Ledger{DB: db, Log: log, Instance: "test:1", Finished: func(job string, state jobs.State, _ time.Duration) {
		told++
		got = append(got, job+" "+string(state))
	}}
	for _, fn := range []jobs.Job{
		func(context.Context, jobs.Env) (jobs.Result, error) { return jobs.Result{}, nil },
		func(context.Context, jobs.Env) (jobs.Result, error) { return jobs.Result{Rejected: 1}, nil },
		func(context.Context, jobs.Env) (jobs.Result, error) { return jobs.Result{}, errors.New("disk full") },
	} {
		if _, err := l.Run(context.Background(), "import", time.Time{}, jobs.Manual, fn, e); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(hook.seen, []int{1, 2, 3}) {
		t.Errorf("runs told before each end was logged: %v, want [1 2 3]", hook.seen)
	}
	if want := []string{"import SUCCEEDED", "import REJECTED", "import FAILED"}; !slices.Equal(got, want) {
		t.Errorf("told %q, want %q", got, want)
	}
}
