package dispatcher

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
)

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

// outcome is what will be written back for one request.
type outcome struct {
	state      provisioning.State
	reference  string
	code, desc string
	request    string
	response   string
	retryAfter time.Duration
	// uncounted: the command never left (the gateway unreachable): the request
	// stays PENDING with its attempts as they were.
	uncounted bool
	send      attempt // the send's row of request_attempts; kind "": not sent
}

// attempt is one send of a command, as request_attempts keeps it.
type attempt struct {
	kind               string // completed, rejected, retry, 429, 503, unknown, refused
	batchID, commandID string
	sent, answered     time.Time // answered: zero without an answer
	status             int       // HTTP status, 0 without an answer
	code, desc         string    // the gateway's error, or what went wrong
	replayed           bool
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
	// The sends' history (request_attempts), parallel to ids.
	kinds, batchIDs, commandIDs, sentAt, answeredAt := make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n)
	statuses, replayed := make(pq.Int64Array, n), make(pq.BoolArray, n)
	sendCodes, sendDescs := make(pq.StringArray, n), make(pq.StringArray, n)
	// Each request's card and place in it, for the mark of the next one (write_back.sql).
	cards, seqs := make(pq.StringArray, n), make(pq.Int64Array, n)
	now := time.Now()
	for i, c := range batch {
		o := &outs[i]
		ids[i], attempts[i] = c.ID, int64(c.Attempts)
		cards[i], seqs[i] = c.Smartcard, c.SequenceNumber
		if a := &o.send; a.kind != "" {
			kinds[i], batchIDs[i], commandIDs[i] = a.kind, a.batchID, a.commandID
			sentAt[i] = a.sent.UTC().Format(time.RFC3339Nano)
			if !a.answered.IsZero() {
				answeredAt[i] = a.answered.UTC().Format(time.RFC3339Nano)
			}
			statuses[i], replayed[i], sendCodes[i], sendDescs[i] = int64(a.status), a.replayed, a.code, a.desc
		}
		switch {
		case o.state == provisioning.Pending && o.uncounted:
			// Never sent (the gateway unreachable): due again at once, for the next
			// run to try; this one has stopped.
		case o.state == provisioning.Pending: // sent, not settled: again after a backoff
			attempts[i]++
			if r.maxedOut(int(attempts[i]), c.FirstAttemptAt, now) {
				o.reject(provisioning.CodeMaxAttempts, fmt.Sprintf("not settled after %d attempts since %s; last: %s: %s",
					attempts[i], firstOr(c.FirstAttemptAt, now).UTC().Format(time.RFC3339), o.code, o.desc), "")
			} else {
				next[i] = now.Add(max(r.backoff(int(attempts[i])), o.retryAfter)).UTC().Format(time.RFC3339Nano)
			}
		}
		states[i], requests[i], responses[i] = string(o.state), o.request, o.response
		refs[i], codes[i], descs[i] = o.reference, o.code, o.desc
	}
	var written []int64
	err := r.d.db.SelectContext(r.bg, &written, provsql.WriteBack, r.sum.ProcessID, provisioning.ProcessName,
		ids, states, attempts, next, requests, responses, refs, codes, descs,
		kinds, batchIDs, commandIDs, sentAt, answeredAt, statuses, sendCodes, sendDescs, replayed,
		r.d.opts.RequestID != 0, // the Web API's one request commits without waiting for the flush: see write_back.sql
		cards, seqs)
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

// maxedOut says whether a request not settled after attempts counted sends, the
// first at first (nil: this one), is rejected with E_MAX_ATTEMPTS: MaxAttempts sends
// and MaxAttemptsAge since the first, so that no outage shorter than that age
// rejects anything however often runs try (issue 16, 0.1). A send that never left
// is not counted, so an outage alone never raises attempts; the age is for the
// sends that did leave and came back unknown, as when the gateway fails half-way.
func (r *run) maxedOut(attempts int, first *time.Time, now time.Time) bool {
	if attempts < r.d.opts.MaxAttempts {
		return false
	}
	return now.Sub(firstOr(first, now)) >= r.d.opts.MaxAttemptsAge // negative: no minimum age
}

func firstOr(first *time.Time, now time.Time) time.Time {
	if first == nil {
		return now
	}
	return *first
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
