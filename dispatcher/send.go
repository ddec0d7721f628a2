package dispatcher

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
)

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
	paused, err := r.waitToSend(ctx, len(batch))
	if err != nil {
		r.release(batch)
		return
	}
	// The answer must come back while the lease holds; if the wait (the gateway's
	// Retry-After or the rate limit) ate too much of it, give the batch back rather
	// than race another run. The log names the wait: with no --rate, "rate limit"
	// sent operators looking for a setting they never made (issue 16).
	if time.Since(job.claimedAt)+r.d.client.cfg.Timeout >= r.d.opts.Lease {
		msg := "batch waited too long for the rate limit to be sent within its lease: released"
		if paused > 0 {
			msg = "batch waited too long for the gateway's Retry-After (429/503 busy) to be sent within its lease: released"
		}
		r.log.WithField("retry_after_wait", paused.Round(time.Millisecond).String()).Warn(msg)
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
	refused := false
	if len(cmds) > 0 {
		refused = r.send(batchID, batch, cmds, send, outs)
	}
	if refused {
		r.release(batch) // the gateway refused our credentials: nothing was applied
		return
	}
	// Answered (or unreachable) even if the run failed meanwhile: what the gateway
	// said is written back, and the history keeps the send.
	// The slot is free once the writers have the answer; the requests stay claimed
	// (and their cards blocked) until it is written.
	p.unwritten.Add(1)
	p.toWrite <- writeJob{batch: batch, outs: outs}
}

// send sends cmds (the commands of batch at indexes idx) and fills their outcomes
// and their sends' history. refused: the gateway refused our credentials, and the
// batch is to be released untouched.
func (r *run) send(batchID string, batch []claimed, cmds []casapi.Command, idx []int, outs []outcome) (refused bool) {
	r.mu.Lock()
	r.sum.Batches++
	r.mu.Unlock()
	sent := time.Now()
	out := r.d.client.Send(r.bg, casapi.Batch{BatchID: batchID, Commands: cmds})
	answered := time.Now()
	if obs := r.d.opts.Observer; obs != nil {
		obs.BatchSent(out.statusLabel(), out.Kind.String(), len(cmds), answered.Sub(sent))
	}
	if out.Status == 0 {
		answered = time.Time{}
	}
	// note records the send of the k-th command as kind, with the error it came back
	// with.
	note := func(k int, kind, code, desc string, replayed bool) {
		outs[idx[k]].send = attempt{kind: kind, batchID: batchID, commandID: cmds[k].CommandID, sent: sent,
			answered: answered, status: out.Status, code: code, desc: desc, replayed: replayed}
	}
	log := r.log.WithFields(logrus.Fields{"batch_id": batchID, "commands": len(cmds)})
	switch out.Kind {
	case Answered:
		for k, res := range out.Results {
			i := idx[k]
			o := &outs[i]
			o.response = mustJSON(res)
			note(k, strings.ToLower(res.Status), res.ErrorCode, res.ErrorDescription, res.Replayed)
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
		for k, i := range idx {
			outs[i].unsettled(provisioning.CodeHTTP(out.Status), out.Detail, out.RetryAfter)
			note(k, strconv.Itoa(out.Status), provisioning.CodeHTTP(out.Status), out.Detail, false)
		}
	case Malformed:
		if len(cmds) > 1 {
			// One command spoils the batch: send each alone to find it.
			log.Warn("gateway refused the batch as malformed; sending its commands one by one: " + out.Detail)
			for k := range cmds {
				r.send(fmt.Sprintf("%s-%d", batchID, k+1), batch, cmds[k:k+1], idx[k:k+1], outs)
			}
			return false
		}
		outs[idx[0]].reject(casapi.ErrCodeBadRequest, out.Detail, "")
		note(0, "rejected", casapi.ErrCodeBadRequest, out.Detail, false)
	case Refused:
		log.Error("gateway refused our credentials: " + out.Detail)
		// No claim in progress meanwhile: one that began before would find the
		// requests released below and take them again.
		r.claimGate.Lock()
		r.fail(fmt.Errorf("gateway: %s", out.Detail))
		r.claimGate.Unlock()
		return true
	case Unknown:
		log.Warn("batch outcome unknown; its requests will be sent again: " + out.Detail)
		for k, i := range idx {
			outs[i].unsettled(provisioning.CodeOutcomeUnknown, out.Detail, 0)
			note(k, "unknown", provisioning.CodeOutcomeUnknown, out.Detail, false)
		}
	case Unreachable:
		// Nothing left: the requests stay PENDING with their attempts as they were,
		// the history keeps the try as "refused", and the run stops (FAILED, exit 1),
		// since the next batches would find the gateway as unreachable.
		log.Error(out.Detail)
		for k, i := range idx {
			outs[i].unsettled(provisioning.CodeUnreachable, out.Detail, 0)
			outs[i].uncounted = true
			note(k, "refused", provisioning.CodeUnreachable, out.Detail, false)
		}
		r.fail(fmt.Errorf("gateway: %s", out.Detail))
	}
	return false
}

// waitToSend waits for a pause the gateway asked for (one may have begun since the
// claim) and for the rate limit, and returns how long the pause held it. It gives up
// only when ctx is cancelled: the batch is then released unsent.
func (r *run) waitToSend(ctx context.Context, n int) (paused time.Duration, err error) {
	paused, err = r.waitPause(ctx)
	if err != nil {
		return paused, err
	}
	if r.limiter != nil {
		return paused, r.limiter.WaitN(ctx, n)
	}
	return paused, ctx.Err()
}

// waitPause waits until the end of a pause the gateway asked for with 429 or 503,
// and returns how long it waited (0: no pause).
func (r *run) waitPause(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	var paused time.Duration
	for {
		r.mu.Lock()
		wait := time.Until(r.pausedUntil)
		r.mu.Unlock()
		if wait <= 0 {
			break
		}
		select {
		case <-time.After(wait):
			paused = time.Since(start)
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		}
	}
	return paused, ctx.Err()
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

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings: cannot fail
	}
	return string(b)
}
