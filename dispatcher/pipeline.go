package dispatcher

import (
	"context"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/internal/recovered"
)

// run is the state of one processing run.
type run struct {
	d       *Dispatcher
	sum     *Summary
	log     logrus.FieldLogger
	bg      context.Context
	limiter *rate.Limiter

	pre   []claimed // the one request of a Web API run, claimed by startRequest
	short bool      // the last claim returned fewer than asked (claim's goroutine only)
	// claimInterrupted: a claim was cancelled by the shutdown or MaxDuration, and may
	// have committed just before (claim's goroutine only): see releaseLeftovers.
	claimInterrupted bool

	mu          sync.Mutex
	pausedUntil time.Time // the gateway said 429/503: nobody sends before this
	fatal       error     // why the run failed: the gateway refused our credentials, or a claim or write-back failed
	seq         int

	// Held by each claim statement, and by a refusal while it fails the run: a claim
	// that began before the refusal would find the refused batch released, and take
	// it again.
	claimGate sync.Mutex
}

// newRun sets up a run's claim statement and its rate limiter. The claim and the
// write-back are not prepared (named server-side statements): behind a pooler in
// transaction mode (PgBouncer pool_mode=transaction) a named statement lives on a
// server connection other clients then get ("prepared statement "1" already
// exists", issue 16). lib/pq sends a query with arguments as the unnamed statement,
// parsed and planned with each execution; the planning is measured in
// docs/benchmarks.md.
func (d *Dispatcher) newRun(bg context.Context, sum *Summary, log logrus.FieldLogger) *run {
	r := &run{d: d, sum: sum, log: log, bg: bg}
	if d.opts.Rate > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(d.opts.Rate), max(d.opts.BatchSize, int(math.Ceil(d.opts.Rate))))
	}
	return r
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
	if r.claimInterrupted {
		r.releaseLeftovers()
	}
	return r.fatalErr()
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
