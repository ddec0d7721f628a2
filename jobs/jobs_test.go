package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/internal/liveness"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/ops"
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
	// Two sends of each request: those of the deleted ones go with them.
	db.MustExec(`INSERT INTO request_attempts (request_id, process_id, batch_id, command_id, sent_at, outcome)
	    SELECT r.id, 1, 'run-1-1', r.number::text, now(), k FROM provisioning_requests r, unnest(ARRAY['unknown', 'completed']) AS k`)
	// Heartbeats: one live instance, one dead for a day (past stale_process_after).
	db.MustExec(`INSERT INTO instances (kind, name, host, pid, version, last_seen_at) VALUES
	    ('scheduler', 'h:1', 'h', 1, 'v', now()), ('scheduler', 'dead:9', 'dead', 9, 'v', now() - interval '1 day')`)

	res, err := jobs.Housekeeping(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"requests_deleted": 2, "requests_vacuumed": 1, "job_runs_deleted": 2, "processes_deleted": 1, "processes_marked_failed": 1, "runs_abandoned": 1, "instances_deleted": 1}
	for k, v := range want {
		if res.Counts[k] != v {
			t.Errorf("%s = %d, want %d (%v)", k, res.Counts[k], v, res.Counts)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM provisioning_requests WHERE smartcard_ca_id IN ('c3', 'c4', 'c5')`); n != 3 || count(t, db, `SELECT count(*) FROM provisioning_requests`) != 3 {
		t.Errorf("requests left: want c3, c4 (pending), c5")
	}
	if n := count(t, db, `SELECT count(*) FROM request_attempts a WHERE NOT EXISTS (SELECT 1 FROM provisioning_requests r WHERE r.id = a.request_id)`); n != 0 ||
		count(t, db, `SELECT count(*) FROM request_attempts`) != 6 {
		t.Errorf("sends left: %d of deleted requests; want none, and the 6 of the 3 requests kept", n)
	}
	if n := count(t, db, `SELECT count(*) FROM instances WHERE name = 'h:1'`); n != 1 || count(t, db, `SELECT count(*) FROM instances`) != 1 {
		t.Errorf("instances: want the live one kept, the dead one deleted")
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
	} else if res.Counts["requests_vacuumed"] != 0 {
		t.Errorf("vacuumed the requests with nothing deleted and few dead rows")
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

// TestLostLock: when a run's lock is taken from it (its lease ran out while the
// database was away, and another instance took it), the run is stopped and recorded
// FAILED. Its sessions may come and go meanwhile (a pooler): the lock is not theirs.
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
	// The run's sessions end: the lock outlives them.
	if _, err := db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	    WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE job_locks SET run_id = -1, instance = 'other:1' WHERE job = 'process'`); err != nil {
		t.Fatal(err)
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

// TestPausedJob: a paused job's run (`provisioner run JOB` as a tick) is recorded
// SKIPPED with the pause, without running; other jobs run; after the resume it runs.
func TestPausedJob(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	e := env(t, db)
	l := &jobs.Ledger{DB: db, Log: e.Log, Instance: "test:1"}
	ran := 0
	fn := func(context.Context, jobs.Env) (jobs.Result, error) { ran++; return jobs.Result{}, nil }
	if _, err := ops.SetPause(ctx, db, "import", "inbox move", ops.Actor{Operator: "alice"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	run, err := l.Run(ctx, "import", time.Time{}, jobs.Manual, fn, e)
	var paused *jobs.PausedError
	if err != nil || run.State != jobs.Skipped || !errors.As(run.Err, &paused) || paused.Pause.Reason != "inbox move" || ran != 0 {
		t.Fatalf("paused job: %+v %v, ran %d", run, err, ran)
	}
	var msg string
	db.QueryRow(`SELECT coalesce(error, '') FROM job_runs WHERE id = $1`, run.ID).Scan(&msg)
	if !strings.HasPrefix(msg, "paused by alice since ") || !strings.HasSuffix(msg, ": inbox move") {
		t.Errorf("ledger error %q", msg)
	}
	if run, err := l.Run(ctx, "process", time.Time{}, jobs.Manual, fn, e); err != nil || run.State != jobs.Succeeded || ran != 1 {
		t.Errorf("another job while import is paused: %+v %v", run, err)
	}
	if _, err := ops.Resume(ctx, db, "import", ops.Actor{Operator: "alice"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if run, err := l.Run(ctx, "import", time.Time{}, jobs.Manual, fn, e); err != nil || run.State != jobs.Succeeded || ran != 2 {
		t.Errorf("after the resume: %+v %v", run, err)
	}
}

// TestDeadHolderLockFree: a lock left by a process of this host that is gone (killed,
// or failed while the database was away) is taken at once by the next run, which
// marks the dead one's run ABANDONED; a live holder's lock, or one of another host,
// holds until its lease runs out (issue 16, item 3).
func TestDeadHolderLockFree(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	host := liveness.Host()
	cases := []struct {
		name, holder string
		runs         bool
	}{
		{"dead process of this host", fmt.Sprintf("%s:%d", host, gone.Process.Pid), true},
		{"live process of this host", fmt.Sprintf("%s:%d", host, os.Getppid()), false},
		{"another host", fmt.Sprintf("elsewhere:%d", gone.Process.Pid), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := pgtest.New(t)
			e := env(t, db)
			var dead int64
			if err := db.QueryRow(`INSERT INTO job_runs (job, tick, trigger, instance) VALUES ('process', now(), 'MANUAL', $1) RETURNING id`, tc.holder).Scan(&dead); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`INSERT INTO job_locks VALUES ('process', $1, $2, now() + interval '1 hour')`, dead, tc.holder); err != nil {
				t.Fatal(err)
			}
			l := &jobs.Ledger{DB: db, Log: e.Log, Instance: jobs.DefaultInstance()}
			ran := false
			run, err := l.Run(context.Background(), "process", time.Time{}, jobs.Manual, func(context.Context, jobs.Env) (jobs.Result, error) {
				ran = true
				return jobs.Result{}, nil
			}, e)
			if err != nil {
				t.Fatal(err)
			}
			var state string
			db.QueryRow(`SELECT state FROM job_runs WHERE id = $1`, dead).Scan(&state)
			if tc.runs && (!ran || run.State != jobs.Succeeded || state != "ABANDONED") {
				t.Errorf("ran %v, %s; the dead holder's run %s: want it run and the other ABANDONED", ran, run.State, state)
			}
			if !tc.runs && (ran || run.State != jobs.Skipped || state != "RUNNING") {
				t.Errorf("ran %v, %s; the holder's run %s: want SKIPPED and the holder's run left RUNNING", ran, run.State, state)
			}
		})
	}
}

// TestRunWaitsForSweep: a run that finds its job's lock held by a sweep of abandoned
// runs (another instance starting) waits for the sweep's end instead of skipping its
// tick.
func TestRunWaitsForSweep(t *testing.T) {
	db, _ := pgtest.New(t)
	e := env(t, db)
	if _, err := db.Exec(`INSERT INTO job_locks VALUES ('import', 0, 'other:1', now() + interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	l := &jobs.Ledger{DB: db, Log: e.Log, Instance: "test:1"}
	done := make(chan jobs.Run, 1)
	go func() {
		run, _ := l.Run(context.Background(), "import", time.Time{}, jobs.Manual, func(context.Context, jobs.Env) (jobs.Result, error) {
			return jobs.Result{}, nil
		}, e)
		done <- run
	}()
	// The run has begun (its row is RUNNING) and finds the sweep's lock: end the sweep.
	for deadline := time.Now().Add(10 * time.Second); count(t, db, `SELECT count(*) FROM job_runs WHERE state = 'RUNNING'`) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the run never began")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition
	}
	if _, err := db.Exec(`DELETE FROM job_locks WHERE run_id = 0`); err != nil {
		t.Fatal(err)
	}
	if run := <-done; run.State != jobs.Succeeded {
		t.Errorf("run %s (%v), want SUCCEEDED once the sweep ended", run.State, run.Err)
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
