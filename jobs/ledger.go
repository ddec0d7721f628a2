package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/lib/pq"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/internal/liveness"
	"github.com/provisioner/provisioner/internal/recovered"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// Trigger is what started a run.
type Trigger string

// The triggers of job_runs.
const (
	Scheduled Trigger = "SCHEDULE" // a tick of the job's schedule
	CatchUp   Trigger = "CATCH_UP" // a tick missed while no instance ran, run at start
	Manual    Trigger = "MANUAL"   // `provisioner run JOB`, or system cron
)

// State is how a run ended.
type State string

// The states of job_runs: a processing run's four (provisioning.RunState), which
// mean the same for any job, and the ledger's own.
const (
	Running           = State(provisioning.RunRunning)
	Succeeded         = State(provisioning.RunSucceeded)
	Rejected    State = "REJECTED"
	Failed            = State(provisioning.RunFailed)
	Skipped     State = "SKIPPED"
	Interrupted       = State(provisioning.RunInterrupted)
	Abandoned   State = "ABANDONED"
)

// Run is one run of a job, as recorded.
type Run struct {
	ID      int64
	Job     string
	Tick    time.Time
	Trigger Trigger
	State   State
	Result  Result
	Err     error         // the job's error (FAILED, INTERRUPTED), or why it was SKIPPED
	Took    time.Duration // how long the job ran (0 when SKIPPED)
}

// Ledger records runs in job_runs and keeps a job from overlapping itself.
type Ledger struct {
	DB       *store.DB
	Log      logrus.FieldLogger
	Instance string // host:pid unless set
	// LockCheck is how often a run renews its lock's lease (default 10s). The lease
	// is 6 x LockCheck: a run that could not renew it for that long (the database
	// away), or finds it taken, is stopped before another instance's run of the job
	// can overlap it.
	LockCheck time.Duration
	// Finished, when set, hears of every recorded run as it ends (SKIPPED ones
	// included), before the run's end is logged: whoever reads the log line ("job
	// finished") then finds the run already counted (the scheduler's metrics). It
	// is called from the run's goroutine and must not block.
	Finished func(job string, state State, took time.Duration)
}

// The job's lock is a row of job_locks with a lease, not a session's advisory lock:
// sessions do not last under a pooler in transaction mode (docs/high-availability.md).

// errLostLock stops a run whose lock's lease ran out or was taken.
var errLostLock = errors.New("lost the job's lock: its lease could not be renewed (the database away?) or was taken; stopped so as not to overlap another run")

func (l *Ledger) lockCheck() time.Duration {
	if l.LockCheck <= 0 {
		return 10 * time.Second
	}
	return l.LockCheck
}

func (l *Ledger) lease() time.Duration { return 6 * l.lockCheck() }

// lock takes job's lock for run id, if free. Locks of instances of this host whose
// process is gone are free at once.
func (l *Ledger) lock(ctx context.Context, job string, id int64) (bool, error) {
	var dead pq.StringArray
	rows, err := l.DB.QueryContext(ctx, provsql.JobLockHolders)
	if err != nil {
		return false, err
	}
	for rows.Next() {
		var inst string
		if err := rows.Scan(&inst); err != nil {
			rows.Close()
			return false, err
		}
		if liveness.DeadInstance(inst) {
			dead = append(dead, inst)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	var got int64
	err = l.DB.QueryRowContext(ctx, provsql.JobLock, job, id, l.Instance, l.lease().Seconds(), dead).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// lockWaitingForSweep is lock, waiting up to sweepWait for a sweep of abandoned runs
// (another instance starting, or housekeeping) that holds the lock for a few
// statements: the tick is not the sweep's to skip.
func (l *Ledger) lockWaitingForSweep(ctx context.Context, job string, id int64) (bool, error) {
	deadline := time.Now().Add(sweepWait)
	for {
		locked, err := l.lock(ctx, job, id)
		if locked || err != nil || time.Now().After(deadline) {
			return locked, err
		}
		var sweeping bool
		if err := l.DB.QueryRowContext(ctx, provsql.JobLockSweeping, job).Scan(&sweeping); err != nil {
			return false, err
		}
		if !sweeping {
			// Not a sweep's now; but it may have been one that ended between the two
			// statements (CI caught TestRunWaitsForSweep skipping so): one more try,
			// which fails again if a run of the job holds the lock.
			return l.lock(ctx, job, id)
		}
		time.Sleep(20 * time.Millisecond) // the sweep's few statements
	}
}

// sweepWait bounds a run's wait for a sweep holding its job's lock.
const sweepWait = 5 * time.Second

// unlock releases run id's lock of job; false when it no longer held it.
func (l *Ledger) unlock(ctx context.Context, job string, id int64) (bool, error) {
	var got int64
	err := l.DB.QueryRowContext(ctx, provsql.JobUnlock, job, id).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// DefaultInstance names this process: host:pid.
func DefaultInstance() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// PausedError is why a paused job's run was SKIPPED (Run.Err): the pause.
type PausedError struct{ Pause ops.Pause }

func (e *PausedError) Error() string { return e.Pause.Why() }

// ErrTaken is Run's answer when another instance claimed the tick first.
var ErrTaken = errors.New("tick already claimed by another instance")

// Run runs fn as job's run for tick: it claims the tick (ErrTaken when another
// instance has it), takes the job's lock (SKIPPED when the job is still running),
// runs fn with panics recovered, and records the outcome. For a Manual run, tick is
// its start. The error is the ledger's own (the database is gone); the job's is in
// Run.Err.
func (l *Ledger) Run(ctx context.Context, job string, tick time.Time, trig Trigger, fn Job, env Env) (Run, error) {
	bg := context.WithoutCancel(ctx) // the record is written even at shutdown
	if trig == Manual {
		tick = time.Now()
	}
	run := Run{Job: job, Tick: tick.Truncate(time.Microsecond), Trigger: trig, State: Running}
	log := l.Log.WithFields(logrus.Fields{"job": job, "tick": run.Tick.UTC().Format(time.RFC3339), "trigger": string(trig)})

	err := l.DB.QueryRowContext(bg, provsql.JobRunStart, job, run.Tick, string(trig), l.Instance).Scan(&run.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return run, ErrTaken
	}
	if err != nil {
		return run, fmt.Errorf("record run of %s: %w", job, err)
	}
	log = log.WithField("run", run.ID)

	// A paused job (`provisioner pause JOB`) skips its ticks, on every instance:
	// read at each tick, so a pause reaches every scheduler by its next one.
	pause, err := ops.PauseOf(bg, l.DB, job)
	if err != nil {
		l.finish(bg, &run, Failed, err, log)
		return run, fmt.Errorf("run of %s: %w", job, err)
	}
	if pause != nil {
		l.finish(bg, &run, Skipped, &PausedError{Pause: *pause}, log)
		return run, nil
	}

	// The lock is a lease the run renews (watchLock): it goes when the run ends, when
	// the lease runs out (the instance died elsewhere), or at once when the instance
	// was on this host and its process is gone.
	locked, err := l.lockWaitingForSweep(bg, job, run.ID)
	if err != nil {
		l.finish(bg, &run, Failed, fmt.Errorf("take the job's lock: %w", err), log)
		return run, fmt.Errorf("lock %s: %w", job, err)
	}
	if !locked {
		var holder struct {
			id       int64
			instance string
			started  time.Time
			running  bool
		}
		why := "the job's lock is held (a sweep of abandoned runs?)"
		if err := l.DB.QueryRowContext(bg, provsql.JobRunHolder, job, run.ID).Scan(&holder.id, &holder.instance, &holder.started, &holder.running); err == nil {
			why = fmt.Sprintf("still running: run %d on %s since %s", holder.id, holder.instance, holder.started.UTC().Format(time.RFC3339))
			if !holder.running {
				why = fmt.Sprintf("still running: run %d on %s, which was just ending", holder.id, holder.instance)
			}
		}
		l.finish(bg, &run, Skipped, errors.New(why), log)
		return run, nil
	}
	defer func() {
		if held, err := l.unlock(bg, job, run.ID); err != nil || !held {
			// The lease ran out under the run: another instance could have started
			// the job meanwhile.
			log.WithError(err).Error("the job's lock was lost during the run: its lease ran out or was taken")
		}
	}()
	if ids, err := l.abandon(bg, job, run.ID); err != nil {
		log.WithError(err).Warn("could not mark the job's abandoned runs")
	} else if len(ids) > 0 {
		log.WithField("runs", ids).Warn("runs left RUNNING by an instance that died marked ABANDONED")
	}

	// Debug: the end's line says when it started (duration) and what it did.
	log.Debug("job started")
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	stopWatch := l.watchLock(runCtx, job, run.ID, stopRun, log)
	started := time.Now()
	res, jobErr := call(runCtx, fn, env)
	stopWatch()
	run.Took = time.Since(started)
	run.Result = res
	state := Succeeded
	switch {
	case ctx.Err() != nil:
		state = Interrupted
	case errors.Is(context.Cause(runCtx), errLostLock):
		state = Failed
		jobErr = errors.Join(errLostLock, jobErr)
	case jobErr != nil:
		state = Failed
	case res.Rejected > 0:
		state = Rejected
	}
	l.finish(bg, &run, state, jobErr, log)
	return run, nil
}

// watchLock renews the run's lock every LockCheck, and stops the run when the lock
// was taken from it, or when it could not be renewed for most of its lease (the
// database away): by the time the lease runs out the run must have stopped. The
// returned func ends the watch, and waits for it.
func (l *Ledger) watchLock(ctx context.Context, job string, id int64, stopRun context.CancelCauseFunc, log logrus.FieldLogger) func() {
	every, lease := l.lockCheck(), l.lease()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		renewed := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			check, cancel := context.WithTimeout(context.WithoutCancel(ctx), every)
			var got int64
			err := l.DB.QueryRowContext(check, provsql.JobLockRenew, job, id, lease.Seconds()).Scan(&got)
			cancel()
			switch {
			case err == nil:
				renewed = time.Now()
				continue
			case errors.Is(err, sql.ErrNoRows):
				log.Error("the job's lock was taken: stopping the run")
			case time.Since(renewed)+2*every < lease:
				log.WithError(err).Warn("could not renew the job's lock; trying again")
				continue
			default:
				log.WithError(err).Error("could not renew the job's lock before its lease runs out: stopping the run")
			}
			stopRun(errLostLock)
			return
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}

// call runs fn, turning a panic into an error that says what and where.
func call(ctx context.Context, fn Job, env Env) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			env.Log.WithField("stack", string(debug.Stack())).Error("job panicked")
			err = recovered.Error(p)
		}
	}()
	return fn(ctx, env)
}

func (l *Ledger) finish(ctx context.Context, run *Run, state State, err error, log logrus.FieldLogger) {
	run.State = state
	run.Err = err
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	counts := run.Result.Counts
	if counts == nil {
		counts = map[string]int{}
	}
	b, _ := json.Marshal(counts)
	// The database may be away (the job failed because it went): try again with
	// backoff for a minute rather than leave the run RUNNING (issue 16).
	deadline, wait := time.Now().Add(time.Minute), 100*time.Millisecond
	for {
		_, dbErr := l.DB.ExecContext(ctx, provsql.JobRunFinish, run.ID, string(state), string(b), msg)
		if dbErr == nil {
			break
		}
		if time.Now().Add(wait).After(deadline) {
			log.WithError(dbErr).Error("could not record the run's end: it stays RUNNING until found abandoned")
			break
		}
		log.WithError(dbErr).WithField("retry_in", wait.String()).Warn("could not record the run's end; trying again")
		time.Sleep(wait) // a bounded backoff while the database is away
		wait = min(2*wait, 5*time.Second)
	}
	if l.Finished != nil {
		l.Finished(run.Job, state, run.Took)
	}
	entry := log.WithFields(logrus.Fields{"state": string(state), "duration": run.Took.Round(time.Millisecond).String()})
	for k, v := range run.Result.Counts {
		entry = entry.WithField(k, v)
	}
	switch state {
	case Succeeded:
		if run.Result.Idle {
			entry.Debug("job finished: nothing to do")
			break
		}
		entry.Info("job finished")
	case Rejected:
		entry.Warn("job finished, with rejects")
	case Skipped:
		// A slow run outlasting its interval, or a pause, is normal: not worth a
		// mail from cron.
		var paused *PausedError
		if errors.As(err, &paused) {
			entry.WithField("reason", msg).Info("skipped: the job is paused")
		} else {
			entry.WithField("reason", msg).Info("skipped: the job is still running")
		}
	case Interrupted:
		// A shutdown asked for it: a warning, and an error field only if there is one.
		if err != nil {
			entry = entry.WithError(err)
		}
		entry.Warn("job interrupted by shutdown")
	default:
		if err != nil {
			entry = entry.WithError(err)
		}
		entry.Error("job did not finish")
	}
}

// abandon marks ABANDONED the RUNNING runs of job other than except; the caller holds
// the job's lock.
func (l *Ledger) abandon(ctx context.Context, job string, except int64) ([]int64, error) {
	var ids []int64
	rows, err := l.DB.QueryContext(ctx, provsql.JobRunsAbandon, job, except)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Sweep marks ABANDONED the runs of the named jobs left RUNNING by instances that are
// gone: those of each job whose lock is free (taken for the sweep, as run 0). A job
// whose lock is held is running somewhere; its next run sweeps it. It returns how
// many runs it marked.
func (l *Ledger) Sweep(ctx context.Context, jobs []string) (int, error) {
	n := 0
	for _, job := range jobs {
		locked, err := l.lock(ctx, job, 0)
		if err != nil {
			return n, fmt.Errorf("sweep abandoned runs: %w", err)
		}
		if !locked {
			continue
		}
		ids, err := l.abandon(ctx, job, 0)
		if _, uerr := l.unlock(context.WithoutCancel(ctx), job, 0); uerr != nil && err == nil {
			err = uerr
		}
		if err != nil {
			return n, fmt.Errorf("sweep abandoned runs of %s: %w", job, err)
		}
		if len(ids) > 0 {
			l.Log.WithFields(logrus.Fields{"job": job, "runs": pq.Int64Array(ids)}).Warn("runs left RUNNING by an instance that died marked ABANDONED")
		}
		n += len(ids)
	}
	return n, nil
}

// LastTick is the latest scheduled tick of job claimed by any instance; zero when
// there is none.
func (l *Ledger) LastTick(ctx context.Context, job string) (time.Time, error) {
	var t sql.NullTime
	if err := l.DB.QueryRowContext(ctx, provsql.JobRunLastTick, job).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("last tick of %s: %w", job, err)
	}
	return t.Time, nil
}
