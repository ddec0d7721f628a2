package dispatcher

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// ProcessName is provisioning.ProcessName, for the dispatcher's callers: the
// process_name of the requests a processing run finishes.
const ProcessName = provisioning.ProcessName

// Dispatcher runs processing runs: it claims due requests, sends them to the gateway
// in batches and writes back what the gateway said.
type Dispatcher struct {
	db     *store.DB
	client *Client
	log    logrus.FieldLogger
	opts   Options
	// noStatsRefresh: the run's statements alone on whatever statistics there are
	// (a test of their shapes).
	noStatsRefresh bool
}

// New returns a Dispatcher, or an error naming a bad option. It uses db's pool as it
// is: store.Open sizes it (store.Options.Conns, from Options.Conns).
func New(db *store.DB, client *Client, log logrus.FieldLogger, opts Options) (*Dispatcher, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if client != nil {
		if err := CheckLease(opts.Lease, client.cfg.Timeout); err != nil {
			return nil, err
		}
	}
	return &Dispatcher{db: db, client: client, log: log, opts: opts}, nil
}

// Summary is what a run did.
type Summary struct {
	ProcessID int64
	Claimed   int // requests claimed
	Completed int // COMPLETED by this run
	Rejected  int // REJECTED by this run (by the gateway, locally, or E_MAX_ATTEMPTS)
	Retried   int // sent but not settled: PENDING again, after a backoff
	Released  int // claimed but given back unsent (shutdown, refused configuration)
	Lost      int // written back by nobody: another run took them over (expired lease)
	Batches   int
	Duration  time.Duration
	// Paused: the queue's pause that stopped the run's claims ("" if none did).
	Paused string
}

// Run performs one processing run until nothing is left to claim, a bound is reached,
// or ctx is cancelled (SIGTERM): then it stops claiming, lets the batches in flight
// finish and write back, and returns. The error is for a run that failed (database
// gone, gateway refusing our credentials); the summary holds the counts so far.
func (d *Dispatcher) Run(ctx context.Context) (Summary, error) {
	started := time.Now()
	host, _ := os.Hostname()
	var sum Summary
	// Records and write-backs must happen even after ctx is cancelled.
	bg := context.WithoutCancel(ctx)
	var pre []claimed // the Web API's one request, claimed as its run is recorded
	if id := d.opts.RequestID; id != 0 {
		var err error
		if pre, err = d.startRequest(bg, &sum, host, id); err != nil || len(pre) == 0 {
			return sum, err
		}
	} else if err := d.db.GetContext(bg, &sum.ProcessID, provsql.StartProcess, provisioning.ProcessName, host, os.Getpid()); err != nil {
		return sum, fmt.Errorf("record run: %w", err)
	}
	log := d.log.WithField("process_id", sum.ProcessID)
	if d.opts.RequestID == 0 && d.opts.FileID == 0 { // not on the Web API's or the importer's path
		d.markDead(bg, host, sum.ProcessID, log)
	}
	// stop ends the claiming: SIGTERM, or MaxDuration, which ends the run as a
	// shutdown does. Every statement before a batch is sent takes it, so that one
	// stuck in the database (waiting for a lock, or on a plan gone wrong) is
	// cancelled, having taken nothing; what is sent is seen through (bg).
	stop, cancel := ctx, context.CancelFunc(func() {})
	if d.opts.MaxDuration > 0 {
		stop, cancel = context.WithDeadline(ctx, started.Add(d.opts.MaxDuration))
	}
	defer cancel()
	// Not for the Web API's one request, nor for the importer's send at once: the
	// file's transaction refreshed the statistics just before its commit.
	if d.opts.RequestID == 0 && d.opts.FileID == 0 && !d.noStatsRefresh {
		// The claim is planned on them. A failure is only logged: the run's
		// statements keep usable plans on stale statistics too, and a database that
		// is gone fails the run at its first claim.
		c, err := store.RefreshRequestStats(stop, d.db)
		c.Log(log, err)
	}

	r := d.newRun(bg, &sum, log)
	r.pre = pre
	err := r.loop(stop)
	sum.Duration = time.Since(started)

	state := provisioning.RunSucceeded
	switch {
	case err != nil:
		state = provisioning.RunFailed
	case ctx.Err() != nil:
		state = provisioning.RunInterrupted
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if ferr := d.recordEnd(bg, &sum, state, msg, log); ferr != nil && err == nil {
		err = ferr
	}
	// The run's write-backs appended the changes of the settled requests' counts,
	// and its claims and write-backs left dead rows in the tables status reads whole:
	// summed and cleared now (store.TidyQueueTables). Not on the Web API's or the
	// importer's path, which send few. Only logged: the counts stay right, only
	// longer to sum.
	if d.opts.RequestID == 0 && d.opts.FileID == 0 && sum.Completed+sum.Rejected > 0 {
		if compacted, verr := store.TidyQueueTables(bg, d.db); verr != nil {
			log.WithError(verr).Warn("could not tidy the pending queue and the counts")
		} else if compacted {
			log.Debug("the pending queue was sparse: rewritten")
		}
	}
	log.WithFields(logrus.Fields{
		"state": state, "claimed": sum.Claimed, "completed": sum.Completed, "rejected": sum.Rejected,
		"retried": sum.Retried, "released": sum.Released, "batches": sum.Batches,
		"duration": sum.Duration.Round(time.Millisecond).String(),
	}).Info("processing run finished")
	return sum, err
}

// RunRequest is Run restricted to one request (Options.RequestID): what the Web API
// calls for a request created with process_immediately. When the request may not be
// sent now (scheduled later, behind an earlier request of its card, leased, waiting
// for a retry, held, the queue paused), it records no run and returns an empty
// Summary: a run is recorded only to send something, in the statement that claims
// the request (claim_request.sql).
func (d *Dispatcher) RunRequest(ctx context.Context, id int64) (Summary, error) {
	one := *d
	one.opts.RequestID = id
	// One batch of one request: one sender and one writer, not the run's slots, whose
	// goroutines each call started and woke threads for (measured in serve's CPU per
	// call on a busy machine, where a wake-up waits for a core).
	one.opts.Concurrency = 1
	return one.Run(ctx)
}

// startRequest records the run of the one request id and claims the request, in one
// statement; nothing is recorded, and nothing returned, when the request may not be
// sent now. Not cancelled with the call: a cancel arriving after the commit would
// leave the request leased and the run RUNNING, for nothing.
func (d *Dispatcher) startRequest(ctx context.Context, sum *Summary, host string, id int64) ([]claimed, error) {
	var rows []struct {
		ProcessID int64 `db:"process_id"`
		claimed
	}
	if err := d.db.SelectContext(ctx, &rows, provsql.ClaimRequest, provisioning.ProcessName, host, os.Getpid(), d.opts.Lease.Seconds(), id); err != nil {
		return nil, fmt.Errorf("claim request %d: %w", id, err)
	}
	if len(rows) == 0 {
		d.log.WithField("request_id", id).Debug("process_immediately: the request may not be sent now; it waits for a processing run")
		return nil, nil
	}
	sum.ProcessID = rows[0].ProcessID
	return []claimed{rows[0].claimed}, nil
}
