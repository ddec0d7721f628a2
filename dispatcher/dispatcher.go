package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/internal/recovered"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// ProcessName is the process_name of the requests a processing run finishes.
const ProcessName = "PROVISIONING_REQUEST_PROCESSING_RUN"

// CodeMaxAttempts rejects a request that the gateway never settled.
const CodeMaxAttempts = "E_MAX_ATTEMPTS"

// Options tune a processing run. Zero values take the defaults.
type Options struct {
	BatchSize   int           // commands per batch (default 100, at most 500)
	Concurrency int           // batches in flight at once (default 4)
	Rate        float64       // commands per second, all batches together (0: no limit)
	MaxRequests int           // stop claiming after this many (0: no limit)
	MaxDuration time.Duration // stop claiming after this long (0: no limit)
	Lease       time.Duration // how long a claim holds if the run dies (default 5m)
	MaxAttempts int           // sends before E_MAX_ATTEMPTS (default 10)
	BackoffBase time.Duration // first wait after an unsettled send (default 2s)
	BackoffCap  time.Duration // longest wait (default 10m)
	// FileID, when set, restricts the run to the process_immediately requests of
	// that import file: the importer's "send at once" path.
	FileID int64
	// RequestID, when set, restricts the run to that one request: the Web API's
	// process_immediately. It is sent only if it is due and first in its card's queue.
	RequestID int64
	// Observer, when set, is told of every batch sent and every outcome written
	// (metrics). Nil: none.
	Observer Observer
}

func (o *Options) defaults() error {
	if o.BatchSize == 0 {
		o.BatchSize = 100
	}
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	if o.Lease == 0 {
		o.Lease = 5 * time.Minute
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 10
	}
	if o.BackoffBase == 0 {
		o.BackoffBase = 2 * time.Second
	}
	if o.BackoffCap == 0 {
		o.BackoffCap = 10 * time.Minute
	}
	switch {
	case o.BatchSize < 1 || o.BatchSize > casapi.MaxBatch:
		return fmt.Errorf("batch size %d: must be 1 to %d", o.BatchSize, casapi.MaxBatch)
	case o.Concurrency < 1 || o.Concurrency > 64:
		return fmt.Errorf("concurrency %d: must be 1 to 64", o.Concurrency)
	case o.Rate < 0, o.MaxRequests < 0, o.MaxDuration < 0, o.Lease < time.Second, o.MaxAttempts < 1:
		return errors.New("rate, max requests and max duration must not be negative, the lease at least 1s, max attempts at least 1")
	}
	return nil
}

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

// New returns a Dispatcher, or an error naming a bad option.
func New(db *store.DB, client *Client, log logrus.FieldLogger, opts Options) (*Dispatcher, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	// A batch still in flight when its lease runs out would be claimed and sent again
	// by another run: harmless as a replay, but its two answers could disagree.
	if client != nil && opts.Lease < 2*client.cfg.Timeout {
		return nil, fmt.Errorf("lease %v: must be at least twice the batch timeout (%v)", opts.Lease, client.cfg.Timeout)
	}
	// The loop claims on one connection while the writers write back and the
	// senders release on others: a smaller pool made them wait, and reconnect.
	if db != nil {
		if n := opts.Concurrency + 2; db.Stats().MaxOpenConnections < n {
			db.SetMaxOpenConns(n)
		}
		db.SetMaxIdleConns(opts.Concurrency + 2)
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
}

// claimed is a request the run holds.
type claimed struct {
	ID             int64          `db:"id"`
	Number         int64          `db:"number"`
	Type           string         `db:"type"`
	Priority       string         `db:"priority"`
	SequenceNumber int64          `db:"sequence_number"`
	Smartcard      string         `db:"smartcard_ca_id"`
	Services       pq.StringArray `db:"service_ca_ids"`
	STB            string         `db:"stb_ca_id"`
	PIN            string         `db:"pin"`
	Attempts       int            `db:"attempts"`
	Generation     int            `db:"command_generation"`
	Rank           int            `db:"rank"`
	Ord            int64          `db:"ord"`
}

// command is the request as the gateway takes it. The command_id is the same on every
// resend, so the gateway never applies it twice (CommandID).
func (c *claimed) command() casapi.Command {
	cmd := casapi.Command{CommandID: CommandID(c.Number, c.Generation), Type: c.Type, Smartcard: c.Smartcard}
	switch provisioning.Type(c.Type) {
	case provisioning.AddProducts, provisioning.CancelProducts:
		cmd.Products = c.Services
	case provisioning.Pair:
		cmd.STB = c.STB
	case provisioning.SetPIN:
		cmd.PIN = c.PIN
	}
	return cmd
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
	if err := d.db.GetContext(bg, &sum.ProcessID, provsql.StartProcess, ProcessName, host, os.Getpid()); err != nil {
		return sum, fmt.Errorf("record run: %w", err)
	}
	log := d.log.WithField("process_id", sum.ProcessID)
	// stop ends the claiming: SIGTERM, or MaxDuration, which ends the run as a
	// shutdown does. Every statement before a batch is sent takes it, so that one
	// stuck in the database (waiting for a lock, or on a plan gone wrong) is
	// cancelled, having taken nothing; what is sent is seen through (bg).
	stop, cancel := ctx, context.CancelFunc(func() {})
	if d.opts.MaxDuration > 0 {
		stop, cancel = context.WithDeadline(ctx, started.Add(d.opts.MaxDuration))
	}
	defer cancel()
	if d.opts.RequestID == 0 && !d.noStatsRefresh {
		d.refreshStats(stop, log)
	}

	r, err := d.newRun(stop, bg, &sum, log)
	switch {
	case err == nil:
		err = r.loop(stop)
		r.close()
	case stop.Err() != nil:
		err = nil // stopped before the first claim
	}
	sum.Duration = time.Since(started)

	state := "SUCCEEDED"
	switch {
	case err != nil:
		state = "FAILED"
	case ctx.Err() != nil:
		state = "INTERRUPTED"
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if _, ferr := d.db.ExecContext(bg, provsql.FinishProcess, sum.ProcessID, state, sum.Claimed, sum.Completed, sum.Rejected, sum.Retried, sum.Batches, msg); ferr != nil && err == nil {
		err = fmt.Errorf("record run: %w", ferr)
	}
	log.WithFields(logrus.Fields{
		"state": state, "claimed": sum.Claimed, "completed": sum.Completed, "rejected": sum.Rejected,
		"retried": sum.Retried, "released": sum.Released, "batches": sum.Batches,
		"duration": sum.Duration.Round(time.Millisecond).String(),
	}).Info("processing run finished")
	return sum, err
}

// refreshStats analyses the requests when the statistics hide most of the pending
// ones (store.RefreshRequestStats): the claim is planned on them. A failure is only
// logged: the run's statements keep usable plans on stale statistics too, and a
// database that is gone fails the run at its first claim.
func (d *Dispatcher) refreshStats(ctx context.Context, log logrus.FieldLogger) {
	c, err := store.RefreshRequestStats(ctx, d.db)
	switch {
	case err != nil:
		log.WithError(err).Warn("planner statistics not checked; the run goes on")
	case c.Analysed:
		log.WithFields(logrus.Fields{"estimated_pending": c.Estimated, "pending_at_least": c.Counted,
			"duration": c.Took.Round(time.Millisecond).String()}).Info("planner statistics were stale: provisioning_requests analysed")
	}
}

// RunRequest is Run restricted to one request (Options.RequestID): what the Web API
// calls for a request created with process_immediately.
func (d *Dispatcher) RunRequest(ctx context.Context, id int64) (Summary, error) {
	one := *d
	one.opts.RequestID = id
	return one.Run(ctx)
}

// run is the state of one processing run.
type run struct {
	d       *Dispatcher
	sum     *Summary
	log     logrus.FieldLogger
	bg      context.Context
	limiter *rate.Limiter

	claimStmt, writeStmt *sqlx.Stmt
	short                bool // the last claim returned fewer than asked (claim's goroutine only)

	mu          sync.Mutex
	pausedUntil time.Time // the gateway said 429/503: nobody sends before this
	fatal       error     // why the run failed: the gateway refused our credentials, or a claim or write-back failed
	seq         int

	// Held by each claim statement, and by a refusal while it fails the run: a claim
	// that began before the refusal would find the refused batch released, and take
	// it again.
	claimGate sync.Mutex
}

// newRun prepares a run's statements (planning the claim cost as much as running
// it) and its rate limiter; close releases them. Preparing the claim waits for the
// lock its UPDATE takes: stop cancels that wait.
func (d *Dispatcher) newRun(stop, bg context.Context, sum *Summary, log logrus.FieldLogger) (*run, error) {
	r := &run{d: d, sum: sum, log: log, bg: bg}
	var err error
	claim := provsql.ClaimRequests
	if d.opts.RequestID != 0 {
		claim = provsql.ClaimRequest
	}
	if r.claimStmt, err = d.db.PreparexContext(stop, claim); err != nil {
		return nil, fmt.Errorf("prepare claim: %w", err)
	}
	if r.writeStmt, err = d.db.PreparexContext(stop, provsql.WriteBack); err != nil {
		r.claimStmt.Close()
		return nil, fmt.Errorf("prepare write-back: %w", err)
	}
	if d.opts.Rate > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(d.opts.Rate), max(d.opts.BatchSize, int(math.Ceil(d.opts.Rate))))
	}
	return r, nil
}

func (r *run) close() {
	r.claimStmt.Close()
	r.writeStmt.Close()
}

// The run is a pipeline (doc.go, "Pipeline"): loop claims batches into toSend, in
// claim order; Concurrency senders each take the next one, send it, and hand its
// answer to toWrite, so that a send slot is held from the moment a batch is taken to
// the gateway's answer and no longer; a few writers write the answers back, several
// batches in one statement when they queue up. Claims run ahead of the slots (up to
// Concurrency batches wait in toSend), so a free slot does not wait for a claim.
//
// One claim at a time: two overlapping claims (each weighing candidates for the
// other) measured slower in `make bench` on 2 cores, with and without gateway
// latency (docs/benchmarks.md: compare before and after to check it again).
type pipeline struct {
	toSend  chan sendJob
	toWrite chan writeJob
	// unsent: batches claimed and not yet answered (queued or being sent);
	// unwritten: batches answered and not yet written back. A sender raises
	// unwritten before it lowers unsent, so the two are never both zero while a
	// batch is between them.
	unsent, unwritten atomic.Int64
	wake              chan struct{} // a sender or a writer finished something
	senders, writers  sync.WaitGroup
}

type sendJob struct {
	batch     []claimed
	claimedAt time.Time
}

type writeJob struct {
	batch []claimed
	outs  []outcome
}

// writeBackMax bounds the requests of one write-back statement when the writers
// merge the answers of several batches.
const writeBackMax = casapi.MaxBatch

// writers is how many write-backs may run at once: half the send slots (a
// write-back takes a fraction of a send's time), and no more than four, which is
// more than the database's cores.
func writers(concurrency int) int { return max(1, min(4, (concurrency+1)/2)) }

// notify wakes the claiming loop; if it is not waiting, it finds the token later.
func (p *pipeline) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (r *run) startPipeline(ctx context.Context) *pipeline {
	c := r.d.opts.Concurrency
	p := &pipeline{
		toSend:  make(chan sendJob, 2*c), // ahead of the slots: see loop
		toWrite: make(chan writeJob, c),
		wake:    make(chan struct{}, 1),
	}
	for range c {
		p.senders.Go(func() {
			for job := range p.toSend {
				r.guard(func() { r.process(ctx, job, p) })
			}
		})
	}
	for range writers(c) {
		p.writers.Go(func() { r.writer(p) })
	}
	return p
}

// guard runs fn and turns a panic in it (a bug, or an Observer's) into the run's
// failure, with where it happened, instead of a crash of the whole process: the
// scheduler runs other jobs in the same process. The pipeline goes on draining
// as after any failure. The requests of a batch whose sender panicked keep their
// leases; those expire and the requests are sent again, as after a crash.
func (r *run) guard(fn func()) {
	defer func() {
		if p := recover(); p != nil {
			err := recovered.Error(p)
			r.log.WithField("stack", string(debug.Stack())).Error("processing run: " + err.Error())
			r.fail(err)
		}
	}()
	fn()
}

// stop lets the pipeline drain: batches still queued are sent (or released, after a
// shutdown or a failure: see process), then every answer is written back.
func (p *pipeline) stop() {
	close(p.toSend)
	p.senders.Wait()
	close(p.toWrite)
	p.writers.Wait()
}

// loop claims batches for the pipeline until there is nothing left to claim, a bound
// is reached, ctx is cancelled or the run failed; then the pipeline drains. A failed
// claim fails the run as a refusal does: the batches still queued are released, not
// sent.
func (r *run) loop(ctx context.Context) error {
	p := r.startPipeline(ctx)
	r.guard(func() {
		if err := r.claimLoop(ctx, p); err != nil {
			r.fail(err)
		}
	})
	p.stop()
	return r.fatalErr()
}

func (r *run) claimLoop(ctx context.Context, p *pipeline) error {
	opts := r.d.opts
	// Claimed and unanswered: the slots' batches plus as many waiting. A claim is
	// made for every batch missing, once at least refill are (or the queue ran dry):
	// a claim of n batches costs far less than n claims.
	capacity := int64(2 * opts.Concurrency)
	refill := int64(max(1, opts.Concurrency/2))
	lastLook := false
	wait := func() bool {
		select {
		case <-p.wake:
			return true
		case <-ctx.Done():
			return false
		}
	}

	for {
		if err := r.fatalErr(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		missing := capacity - p.unsent.Load()
		if missing < refill && !(missing > 0 && len(p.toSend) == 0) {
			if !wait() {
				return nil
			}
			continue
		}
		n, stop, err := r.claimInto(ctx, p, missing)
		if err != nil || stop {
			return err
		}
		if n == 0 {
			// Nothing claimable now. Batches in flight or being written back may
			// unblock the next request of their smartcards; when there are none, the
			// run is done, after one more look: runs claiming at the same instant may
			// have skipped each other's rows.
			if p.unsent.Load() == 0 && p.unwritten.Load() == 0 {
				if lastLook {
					return nil
				}
				lastLook = true
				time.Sleep(20 * time.Millisecond)
				continue
			}
			if !wait() {
				return nil
			}
			continue
		}
		lastLook = false
	}
}

// claimInto claims up to want batches and queues them; it returns how many, and
// stop when the run should stop claiming (MaxRequests reached, ctx cancelled, the
// run failed).
func (r *run) claimInto(ctx context.Context, p *pipeline, want int64) (n int64, stop bool, err error) {
	opts := r.d.opts
	limit := opts.BatchSize * int(want)
	if opts.MaxRequests > 0 {
		limit = min(limit, opts.MaxRequests-r.claimedSoFar())
		if limit <= 0 {
			return 0, true, nil
		}
	}
	// The end of a pause the gateway asked for first, so that claims are not held
	// through it.
	if err := r.waitPause(ctx); err != nil {
		return 0, true, nil
	}
	claimedRows, failed, err := r.claimGated(ctx, limit)
	if failed || ctx.Err() != nil {
		// A claim cancelled by the shutdown or MaxDuration took nothing (its
		// transaction rolled back), unless it had committed already: then its rows
		// wait for their leases to expire, and this run, which stops here, never
		// sends them.
		return 0, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	claimedAt := time.Now()
	for len(claimedRows) > 0 {
		k := min(opts.BatchSize, len(claimedRows))
		// Clipped: a writer that merges batches appends to a copy, never over the
		// next batch. Never blocks: at most capacity are unanswered.
		p.unsent.Add(1)
		p.toSend <- sendJob{batch: claimedRows[:k:k], claimedAt: claimedAt}
		claimedRows = claimedRows[k:]
		n++
	}
	return n, false, nil
}

// claimGated claims under claimGate, unless the run has failed already.
func (r *run) claimGated(ctx context.Context, limit int) (batch []claimed, failed bool, err error) {
	r.claimGate.Lock()
	defer r.claimGate.Unlock()
	if r.fatalErr() != nil {
		return nil, true, nil
	}
	batch, err = r.claim(ctx, limit)
	return batch, false, err
}

// claim claims up to limit requests. It weighs one candidate per request wanted,
// unless the last claim came back short: then other runs may hold the first
// candidates (SKIP LOCKED passes over them), and it weighs four times as many. Always
// weighing four cost a third of a claim when one run works alone.
func (r *run) claim(ctx context.Context, limit int) ([]claimed, error) {
	var batch []claimed
	factor := 1
	if r.short {
		factor = 4
	}
	args := []any{r.sum.ProcessID, limit, r.d.opts.Lease.Seconds(), r.d.opts.FileID, factor}
	if id := r.d.opts.RequestID; id != 0 {
		args = []any{r.sum.ProcessID, r.d.opts.Lease.Seconds(), id} // claim_request.sql
	}
	err := r.claimStmt.SelectContext(ctx, &batch, args...)
	if err != nil {
		return nil, fmt.Errorf("claim batch: %w", err)
	}
	r.short = len(batch) < limit
	// The UPDATE returns rows in no particular order: put them back in claim order.
	slices.SortFunc(batch, func(a, b claimed) int {
		if a.Rank != b.Rank {
			return a.Rank - b.Rank
		}
		return int(a.Ord - b.Ord)
	})
	r.mu.Lock()
	r.sum.Claimed += len(batch)
	r.mu.Unlock()
	return batch, nil
}

func (r *run) claimedSoFar() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sum.Claimed
}

// fail records the first error that fails the run.
func (r *run) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fatal == nil {
		r.fatal = err
	}
}

func (r *run) fatalErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal
}

// process sends one claimed batch and hands its outcome to the writers. Once a batch
// is sent it is seen through even if ctx is cancelled: the answer is written back,
// so that a shutdown loses nothing and leaves nothing claimed. A batch still queued
// at a shutdown, or after the gateway refused our credentials, is released unsent.
func (r *run) process(ctx context.Context, job sendJob, p *pipeline) {
	batch := job.batch
	defer p.notify()
	defer p.unsent.Add(-1)
	if r.fatalErr() != nil {
		r.release(batch)
		return
	}
	if err := r.waitToSend(ctx, len(batch)); err != nil {
		r.release(batch)
		return
	}
	// The answer must come back while the lease holds; if the wait for the rate limit
	// ate too much of it, give the batch back rather than race another run.
	if time.Since(job.claimedAt)+r.d.client.cfg.Timeout >= r.d.opts.Lease {
		r.log.Warn("batch waited too long for the rate limit to be sent within its lease: released")
		r.release(batch)
		return
	}
	r.mu.Lock()
	r.seq++
	batchID := fmt.Sprintf("run-%d-%d", r.sum.ProcessID, r.seq)
	r.mu.Unlock()

	outs := make([]outcome, len(batch))
	var send []int // indexes of the commands that go to the gateway
	cmds := make([]casapi.Command, 0, len(batch))
	for i := range batch {
		cmd := batch[i].command()
		outs[i].request = mustJSON(cmd)
		if err := cmd.Validate(); err != nil {
			// The gateway would refuse the whole batch for it: refuse it alone, here.
			outs[i].reject(casapi.ErrCodeBadRequest, "refused before sending: "+err.Error(), "")
			continue
		}
		send = append(send, i)
		cmds = append(cmds, cmd)
	}
	if len(cmds) > 0 {
		r.send(batchID, batch, cmds, send, outs)
	}
	if err := r.fatalErr(); err != nil {
		r.release(batch) // nothing was applied: give them back untouched
		return
	}
	// The slot is free once the writers have the answer; the requests stay claimed
	// (and their cards blocked) until it is written.
	p.unwritten.Add(1)
	p.toWrite <- writeJob{batch: batch, outs: outs}
}

// writer writes back the answers the senders hand over, merging those that queue up
// (up to writeBackMax requests) into one statement.
func (r *run) writer(p *pipeline) {
	for job := range p.toWrite {
		batch, outs, n := job.batch, job.outs, int64(1)
	merge:
		for len(batch) < writeBackMax {
			select {
			case more, ok := <-p.toWrite:
				if !ok {
					break merge
				}
				// Both were made to length (batches are clipped): append copies.
				batch, outs = append(batch, more.batch...), append(outs, more.outs...)
				n++
			default:
				break merge
			}
		}
		r.guard(func() {
			defer p.notify()
			defer p.unwritten.Add(-n)
			r.writeBack(batch, outs)
		})
	}
}

// send sends cmds (the commands of batch at indexes idx) and fills their outcomes.
func (r *run) send(batchID string, batch []claimed, cmds []casapi.Command, idx []int, outs []outcome) {
	r.mu.Lock()
	r.sum.Batches++
	r.mu.Unlock()
	sent := time.Now()
	out := r.d.client.Send(r.bg, casapi.Batch{BatchID: batchID, Commands: cmds})
	if obs := r.d.opts.Observer; obs != nil {
		obs.BatchSent(out.statusLabel(), out.Kind.String(), len(cmds), time.Since(sent))
	}
	log := r.log.WithFields(logrus.Fields{"batch_id": batchID, "commands": len(cmds)})
	switch out.Kind {
	case Answered:
		for k, res := range out.Results {
			i := idx[k]
			o := &outs[i]
			o.response = mustJSON(res)
			switch res.Status {
			case casapi.StatusCompleted:
				o.state, o.reference = provisioning.Completed, res.Reference
			case casapi.StatusRejected:
				o.reject(res.ErrorCode, res.ErrorDescription, res.Reference)
			case casapi.StatusRetry:
				o.unsettled(res.ErrorCode, res.ErrorDescription, 0)
			}
		}
	case Throttled:
		log.WithField("retry_after", out.RetryAfter.String()).Warn("gateway busy: " + out.Detail)
		r.pause(out.RetryAfter)
		for _, i := range idx {
			outs[i].unsettled(fmt.Sprintf("HTTP_%d", out.Status), out.Detail, out.RetryAfter)
		}
	case Malformed:
		if len(cmds) > 1 {
			// One command spoils the batch: send each alone to find it.
			log.Warn("gateway refused the batch as malformed; sending its commands one by one: " + out.Detail)
			for k := range cmds {
				r.send(fmt.Sprintf("%s-%d", batchID, k+1), batch, cmds[k:k+1], idx[k:k+1], outs)
			}
			return
		}
		outs[idx[0]].reject(casapi.ErrCodeBadRequest, out.Detail, "")
	case Refused:
		log.Error("gateway refused our credentials: " + out.Detail)
		// No claim in progress meanwhile: one that began before would find the
		// requests released below and take them again.
		r.claimGate.Lock()
		r.fail(fmt.Errorf("gateway: %s", out.Detail))
		r.claimGate.Unlock()
	case Unknown:
		log.Warn("batch outcome unknown; its requests will be sent again: " + out.Detail)
		for _, i := range idx {
			outs[i].unsettled("E_OUTCOME_UNKNOWN", out.Detail, 0)
		}
	}
}

// waitToSend waits for a pause the gateway asked for (one may have begun since the
// claim) and for the rate limit. It gives up only when ctx is cancelled: the batch
// is then released unsent.
func (r *run) waitToSend(ctx context.Context, n int) error {
	if err := r.waitPause(ctx); err != nil {
		return err
	}
	if r.limiter != nil {
		return r.limiter.WaitN(ctx, n)
	}
	return ctx.Err()
}

// waitPause waits until the end of a pause the gateway asked for with 429 or 503.
func (r *run) waitPause(ctx context.Context) error {
	for {
		r.mu.Lock()
		wait := time.Until(r.pausedUntil)
		r.mu.Unlock()
		if wait <= 0 {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}

func (r *run) pause(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if until := time.Now().Add(d); until.After(r.pausedUntil) {
		r.pausedUntil = until
	}
}

func (r *run) release(batch []claimed) {
	ids := make([]int64, len(batch))
	for i, c := range batch {
		ids[i] = c.ID
	}
	if _, err := r.d.db.ExecContext(r.bg, provsql.ReleaseRequests, r.sum.ProcessID, pq.Int64Array(ids)); err != nil {
		r.log.WithError(err).Error("release requests: their lease will expire instead")
	}
	r.mu.Lock()
	r.sum.Released += len(batch)
	r.mu.Unlock()
}

// outcome is what will be written back for one request.
type outcome struct {
	state      provisioning.State
	reference  string
	code, desc string
	request    string
	response   string
	retryAfter time.Duration
}

func (o *outcome) reject(code, desc, ref string) {
	o.state, o.code, o.desc, o.reference = provisioning.Rejected, code, desc, ref
}

func (o *outcome) unsettled(code, desc string, retryAfter time.Duration) {
	o.state, o.code, o.desc, o.retryAfter = provisioning.Pending, code, desc, retryAfter
}

// writeBack writes the batch's outcomes in one statement.
func (r *run) writeBack(batch []claimed, outs []outcome) {
	n := len(batch)
	ids := make(pq.Int64Array, n)
	states, requests, responses, refs, codes, descs := make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n)
	attempts := make(pq.Int64Array, n)
	next := make(pq.StringArray, n) // '' = none
	for i, c := range batch {
		o := &outs[i]
		ids[i], attempts[i] = c.ID, int64(c.Attempts)
		if o.state == provisioning.Pending { // sent, not settled: again after a backoff
			attempts[i]++
			if int(attempts[i]) >= r.d.opts.MaxAttempts {
				o.reject(CodeMaxAttempts, fmt.Sprintf("not settled after %d attempts; last: %s: %s", attempts[i], o.code, o.desc), "")
			} else {
				next[i] = time.Now().Add(max(r.backoff(int(attempts[i])), o.retryAfter)).UTC().Format(time.RFC3339Nano)
			}
		}
		states[i], requests[i], responses[i] = string(o.state), o.request, o.response
		refs[i], codes[i], descs[i] = o.reference, o.code, o.desc
	}
	var written []int64
	err := r.writeStmt.SelectContext(r.bg, &written, r.sum.ProcessID, ProcessName,
		ids, states, attempts, next, requests, responses, refs, codes, descs)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		// The answers are not lost for good: the leases expire and the requests are
		// sent again, and the gateway answers them as replays.
		r.log.WithError(err).Error("write back batch: its requests will be sent again when their leases expire")
		if r.fatal == nil {
			r.fatal = fmt.Errorf("write back batch: %w", err)
		}
		return
	}
	if len(written) < n {
		r.log.WithField("lost", n-len(written)).Warn("some requests were taken over by another run (lease expired): their outcome was not written by this run")
		r.sum.Lost += n - len(written)
	}
	// Count only what was written.
	w := make(map[int64]bool, len(written))
	for _, id := range written {
		w[id] = true
	}
	var completed, rejected, retried int
	// The observer hears once per state and error code, not once per request: a
	// write-back merges up to 500 of them.
	type result struct{ state, code string }
	var observed map[result]int
	if r.d.opts.Observer != nil {
		observed = map[result]int{}
	}
	for i, c := range batch {
		if w[c.ID] && observed != nil {
			observed[result{string(outs[i].state), outs[i].code}]++
		}
		switch {
		case !w[c.ID]:
		case outs[i].state == provisioning.Completed:
			completed++
		case outs[i].state == provisioning.Rejected:
			rejected++
		default:
			retried++
		}
	}
	for k, n := range observed {
		r.d.opts.Observer.Results(k.state, k.code, n)
	}
	r.sum.Completed += completed
	r.sum.Rejected += rejected
	r.sum.Retried += retried
}

// backoff is the capped exponential wait after the n-th unsettled send, with equal
// jitter (half fixed, half random) so that requests held back together do not all
// come back together.
func (r *run) backoff(n int) time.Duration {
	d := r.d.opts.BackoffBase << min(n-1, 30)
	if d <= 0 || d > r.d.opts.BackoffCap {
		d = r.d.opts.BackoffCap
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings: cannot fail
	}
	return string(b)
}
