package dispatcher

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/internal/liveness"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
)

// recordRetry bounds how long a run tries to record its end while the database is
// away (a run that failed because PostgreSQL went away would otherwise stay RUNNING,
// with zero counts, until housekeeping; issue 16). Past it, the next run on this
// host marks it (markDead), or housekeeping does.
const recordRetry = time.Minute

// recordEnd records the run's end and counts, trying again with backoff for up to
// recordRetry while the database does not answer.
func (d *Dispatcher) recordEnd(ctx context.Context, sum *Summary, state provisioning.RunState, msg string, log logrus.FieldLogger) error {
	deadline := time.Now().Add(recordRetry)
	wait := 100 * time.Millisecond
	for {
		_, err := d.db.ExecContext(ctx, provsql.FinishProcess, sum.ProcessID, state, sum.Claimed, sum.Completed, sum.Rejected, sum.Retried, sum.Batches, msg,
			d.opts.RequestID != 0) // the Web API's one request: see finish_process.sql
		if err == nil {
			return nil
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("record run: %w", err)
		}
		log.WithError(err).WithField("retry_in", wait.String()).Warn("could not record the run's end; trying again")
		time.Sleep(wait) // a bounded backoff while the database is away
		wait = min(2*wait, 5*time.Second)
	}
}

// markDead marks FAILED the RUNNING processing runs of this host whose process is
// gone: killed, or ended while the database was away and could not record it. It
// gives back the requests they held rather than let their leases run out (5 minutes
// by default): a process that is gone can no longer write back, and what it had in
// flight is sent again under the same command_id. This takes host names to be unique
// among the machines (or PID namespaces) that run the provisioner, as liveness.Dead
// does. Runs of other hosts wait for their leases and for housekeeping.
func (d *Dispatcher) markDead(ctx context.Context, host string, self int64, log logrus.FieldLogger) {
	var running []struct {
		ID  int64 `db:"id"`
		PID int   `db:"pid"`
	}
	if err := d.db.SelectContext(ctx, &running, provsql.RunningProcessesOnHost, host, self); err != nil {
		log.WithError(err).Warn("could not look for runs of dead processes on this host")
		return
	}
	var dead []int64
	for _, r := range running {
		if liveness.Dead(host, r.PID) {
			dead = append(dead, r.ID)
		}
	}
	if len(dead) == 0 {
		return
	}
	var marked []int64
	if err := d.db.SelectContext(ctx, &marked, provsql.MarkDeadProcesses, pq.Int64Array(dead)); err != nil {
		log.WithError(err).Warn("could not mark the runs of dead processes on this host")
		return
	}
	if len(marked) == 0 {
		return
	}
	entry := log.WithField("runs", pq.Int64Array(marked))
	res, err := d.db.ExecContext(ctx, provsql.ReleaseDeadRuns, pq.Int64Array(marked))
	if err != nil {
		entry.WithError(err).Warn("runs left RUNNING by a process of this host that is gone marked FAILED; could not give back their requests: their leases will expire instead")
		return
	}
	n, _ := res.RowsAffected()
	entry.WithField("released", n).Warn("runs left RUNNING by a process of this host that is gone marked FAILED, their requests given back")
}
