package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
)

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
	FirstAttemptAt *time.Time     `db:"first_attempt_at"` // the first counted send; nil: none yet
	Rank           int            `db:"rank"`
	Ord            int64          `db:"ord"`
}

// command is the request as the gateway takes it. The command_id is the same on every
// resend, so the gateway never applies it twice (provisioning.CommandID).
func (c *claimed) command() casapi.Command {
	cmd := casapi.Command{CommandID: provisioning.CommandID(c.Number, c.Generation), Type: c.Type, Smartcard: c.Smartcard}
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
		if r.d.opts.RequestID != 0 {
			// One request (the Web API's process_immediately): one claim takes it or
			// finds it not to be taken. Looking again would find it leased or settled,
			// after waiting for its write-back and the last look's pause: that was
			// most of a process_immediately call's time (docs/web-api.md).
			return nil
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
	if _, err := r.waitPause(ctx); err != nil {
		return 0, true, nil
	}
	claimedRows, failed, err := r.claimGated(ctx, limit)
	switch {
	case failed:
		return 0, true, nil
	case err != nil && ctx.Err() != nil:
		// Cancelled by the shutdown or MaxDuration. The claim most likely rolled
		// back; but the cancel may have come after its commit, and then it holds
		// rows this run never saw: releaseLeftovers gives them back at the end.
		// Not when the server says it cancelled the statement (57014): then it
		// surely took nothing, and releaseLeftovers would wait on the very lock the
		// claim was stuck behind.
		var pe *pq.Error
		r.claimInterrupted = !errors.As(err, &pe) || pe.Code != "57014"
		return 0, true, nil
	case err != nil:
		return 0, false, err
	}
	if len(claimedRows) == 0 {
		// A paused queue (`provisioner pause queue`) claims nothing: the claim tests
		// the pause itself (claim_requests.sql). Whether that is why it came back
		// empty is read only then: the run stops claiming, and sends and writes back
		// the batches it holds.
		pause, err := ops.PauseOf(ctx, r.d.db, provisioning.PauseQueue)
		switch {
		case err != nil && ctx.Err() != nil:
			return 0, true, nil
		case err != nil:
			return 0, false, fmt.Errorf("claim batch: %w", err)
		case pause != nil:
			r.mu.Lock()
			r.sum.Paused = pause.Why()
			r.mu.Unlock()
			r.log.WithField("pause", pause.Why()).Info("the queue is paused: claiming nothing more")
			return 0, true, nil
		}
	}
	// Rows claimed are queued even when ctx is done by now: the senders release
	// them unsent.
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
	if r.d.opts.RequestID != 0 {
		// The Web API's one request, claimed when its run was recorded
		// (startRequest): a statement saved, and its round trip.
		batch, r.pre = r.pre, nil
	} else if err := r.claimBatch(ctx, &batch, limit, factor); err != nil {
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

// claimBatch runs the claim (sql.ClaimRequests) in a transaction of its own with JIT
// compilation, bitmap scans and sorts off (sql.ClaimSettings says why). A claim cancelled
// before its commit claims nothing: the transaction is rolled back.
func (r *run) claimBatch(ctx context.Context, batch *[]claimed, limit, factor int) error {
	tx, err := r.d.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, provsql.ClaimSettings); err != nil {
		return err
	}
	if err := tx.SelectContext(ctx, batch, provsql.ClaimRequests, r.sum.ProcessID, limit, r.d.opts.Lease.Seconds(), r.d.opts.FileID, factor); err != nil {
		return err
	}
	return tx.Commit()
}

func (r *run) claimedSoFar() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sum.Claimed
}

// releaseLeftovers gives back what the run still holds once its pipeline has
// drained, after a claim was cancelled: the rows of a claim whose commit the cancel
// came too late to stop. Every batch the run sent is written back by then, so what
// it holds was never sent. Without this the rows would wait for their leases.
func (r *run) releaseLeftovers() {
	res, err := r.d.db.ExecContext(r.bg, provsql.ReleaseLeftovers, r.sum.ProcessID)
	if err != nil {
		r.log.WithError(err).Error("release what a cancelled claim took: its leases will expire instead")
		return
	}
	if n, _ := res.RowsAffected(); n > 0 {
		r.log.WithField("requests", n).Info("released the requests of a claim cancelled after its commit")
		// Claimed too: the claim committed them for this run, which never counted
		// them (a stress round saw Claimed 8 = Completed 8, Released 4).
		r.mu.Lock()
		r.sum.Claimed += int(n)
		r.sum.Released += int(n)
		r.mu.Unlock()
	}
}
