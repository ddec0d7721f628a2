package api

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/provisioner/provisioner/internal/recovered"
)

// Defaults of the group commit (Options.Batch, Options.BatchRunning).
const (
	// DefaultBatch is the most calls one statement takes: 64 rows of
	// insert_requests.sql are 768 parameters, and a batch that size already spends
	// its time on the rows rather than on the statement.
	DefaultBatch = 64
	// MaxBatch keeps a batch's insert within PostgreSQL's 65,535 parameters.
	MaxBatch = 65535 / 12
	// DefaultBatchRunning is how many batches of one kind run at once. One: the
	// lookups of the next batch run while the inserts of the last commit, and each
	// batch is as large as the time of the one before lets it grow. Measured with
	// cmd/apibench on the shared 2-core machine (docs/benchmarks.md): CPU per create
	// 680-820 µs with 1, 880-1220 with 2, 1180-1240 with 4.
	DefaultBatchRunning = 1
	// batchTimeout bounds one batch's statement, which no single call may cancel
	// (the others would lose their answer with it).
	batchTimeout = time.Minute
)

// batcher is a group commit: the calls that arrive while up to running batches are
// under way queue, and the first batch to end takes them all (up to most) as the
// next one, run by one statement instead of one each. A call that finds fewer
// batches running runs its own at once, so that nothing waits on an idle server; on a
// busy one, what gathers a batch is the time the batch before it takes. No
// goroutine outlives the batches: whoever ends one hands the queue on.
type batcher[T, R any] struct {
	most, running int
	// run sets out or err of every job of one batch (a job it leaves alone gets
	// errNotRun: run forgot it).
	run func(ctx context.Context, jobs []*batchJob[T, R])

	mu      sync.Mutex
	queue   []*batchJob[T, R]
	busy    int // batches under way
	batches int // run so far, for the tests
}

// batchJob is one call's part of a batch.
type batchJob[T, R any] struct {
	ctx  context.Context // the call's: a call gone before its batch starts is left out
	in   T
	out  R
	err  error
	done chan struct{}
}

func newBatcher[T, R any](most, running int, run func(ctx context.Context, jobs []*batchJob[T, R])) *batcher[T, R] {
	if most <= 1 {
		// No batches: every call runs its own statement at once, as many at once as
		// there are calls (the pool bounds them).
		running = math.MaxInt
	}
	return &batcher[T, R]{most: max(1, most), running: max(1, running), run: run}
}

// do runs in through a batch and returns its result. A call whose context ends
// before its batch ends gets the context's error; its part of the batch may still
// be done (as a statement cancelled too late would be).
func (b *batcher[T, R]) do(ctx context.Context, in T) (R, error) {
	j := &batchJob[T, R]{ctx: ctx, in: in, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, j)
	var batch []*batchJob[T, R]
	if b.busy < b.running {
		if batch = b.take(); batch != nil {
			b.busy++
		}
	}
	b.mu.Unlock()
	if batch != nil {
		b.runFrom(batch)
	}
	select {
	case <-j.done:
		return j.out, j.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}

// take removes the next batch from the queue, leaving out the calls gone already;
// nil when none is left. b.mu is held.
func (b *batcher[T, R]) take() []*batchJob[T, R] {
	var batch []*batchJob[T, R]
	for len(b.queue) > 0 && len(batch) < b.most {
		j := b.queue[0]
		b.queue[0] = nil
		b.queue = b.queue[1:]
		if err := j.ctx.Err(); err != nil {
			j.err = err
			close(j.done)
			continue
		}
		batch = append(batch, j)
	}
	if len(b.queue) == 0 {
		b.queue = nil // let the old array go
	}
	return batch
}

// runFrom runs batch, then hands the calls queued meanwhile to a goroutine of
// their own, so that the caller that ran batch gets its answer now.
func (b *batcher[T, R]) runFrom(batch []*batchJob[T, R]) {
	b.runOne(batch)
	b.mu.Lock()
	next := b.take()
	if next == nil {
		b.busy--
	}
	b.mu.Unlock()
	if next != nil {
		go b.runFrom(next)
	}
}

var errNotRun = fmt.Errorf("batch: call left without an answer")

// runOne runs one batch and ends each of its calls, whatever run does.
func (b *batcher[T, R]) runOne(batch []*batchJob[T, R]) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), batchTimeout)
	defer cancel()
	for _, j := range batch {
		j.err = errNotRun
	}
	defer func() {
		if p := recover(); p != nil {
			for _, j := range batch {
				j.err = recovered.Error(p)
			}
		}
		b.mu.Lock()
		b.batches++
		b.mu.Unlock()
		for _, j := range batch {
			close(j.done)
		}
	}()
	b.run(ctx, batch)
}
