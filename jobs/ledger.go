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

	"github.com/provisioner/provisioner/internal/recovered"
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
	// LockCheck is how often a run checks that the connection holding its lock is
	// alive (default 10s): if it is gone, so is the lock, and the run is stopped
	// before another instance's run of the job can overlap it.
	LockCheck time.Duration
	// Finished, when set, hears of every recorded run as it ends (SKIPPED ones
	// included), before the run's end is logged: whoever reads the log line ("job
	// finished") then finds the run already counted (the scheduler's metrics). It
	// is called from the run's goroutine and must not block.
	Finished func(job string, state State, took time.Duration)
}

// errLostLock stops a run whose lock went with its connection.
var errLostLock = errors.New("lost the job's lock: its connection to the database dropped; stopped so as not to overlap another run")

// DefaultInstance names this process: host:pid.
func DefaultInstance() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

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

	// The lock lives on this connection's session: it goes when the run ends, or
	// when the connection does (the instance died).
	conn, err := l.DB.Conn(bg)
	if err != nil {
		l.finish(bg, &run, Failed, fmt.Errorf("connect for the job's lock: %w", err), log)
		return run, fmt.Errorf("lock %s: %w", job, err)
	}
	defer conn.Close()
	var locked bool
	if err := conn.QueryRowContext(bg, provsql.JobLock, job).Scan(&locked); err != nil {
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
		var held bool
		if err := conn.QueryRowContext(bg, provsql.JobUnlock, job).Scan(&held); err != nil || !held {
			// The session ended under the run (the connection dropped): another
			// instance could have started the job meanwhile.
			log.WithError(err).Error("the job's lock was lost during the run: its connection to the database dropped")
		}
	}()
	if ids, err := l.abandon(bg, job, run.ID); err != nil {
		log.WithError(err).Warn("could not mark the job's abandoned runs")
	} else if len(ids) > 0 {
		log.WithField("runs", ids).Warn("runs left RUNNING by an instance that died marked ABANDONED")
	}

	log.Info("job started")
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	stopWatch := l.watchLock(runCtx, conn, stopRun, log)
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

// watchLock checks every LockCheck that conn, which holds the run's lock, is alive,
// and stops the run when it is not. The returned func ends the watch (and waits for
// it, so that conn is free again).
func (l *Ledger) watchLock(ctx context.Context, conn *sql.Conn, stopRun context.CancelCauseFunc, log logrus.FieldLogger) func() {
	every := l.LockCheck
	if every <= 0 {
		every = 10 * time.Second
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Generous: a database slow to answer still holds the lock; one that has
			// not answered for a minute is as good as gone.
			check, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			err := conn.PingContext(check) // lib/pq sends a query: a dead session fails it
			cancel()
			if err != nil {
				log.WithError(err).Error("the job's lock was lost: stopping the run")
				stopRun(errLostLock)
				return
			}
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
	if _, dbErr := l.DB.ExecContext(ctx, provsql.JobRunFinish, run.ID, string(state), string(b), msg); dbErr != nil {
		log.WithError(dbErr).Error("could not record the run's end: it stays RUNNING until found abandoned")
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
		entry.Info("job finished")
	case Rejected:
		entry.Warn("job finished, with rejects")
	case Skipped:
		// A slow run outlasting its interval is normal: not worth a mail from cron.
		entry.WithField("reason", msg).Info("skipped: the job is still running")
	default:
		entry.WithError(err).Error("job did not finish")
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
// gone: those of each job whose lock is free. A job whose lock is held is running
// somewhere; its next run sweeps it. It returns how many runs it marked.
func (l *Ledger) Sweep(ctx context.Context, jobs []string) (int, error) {
	conn, err := l.DB.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("sweep abandoned runs: %w", err)
	}
	defer conn.Close()
	n := 0
	for _, job := range jobs {
		var locked bool
		if err := conn.QueryRowContext(ctx, provsql.JobLock, job).Scan(&locked); err != nil {
			return n, fmt.Errorf("sweep abandoned runs: %w", err)
		}
		if !locked {
			continue
		}
		ids, err := l.abandon(ctx, job, 0)
		conn.ExecContext(ctx, provsql.JobUnlock, job)
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
