package simulator

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/provisioner/provisioner/casapi"
)

// outcome is the fault chosen for one batch after it was found well formed.
type outcome int

const (
	outcomeAnswer outcome = iota
	outcomePartial
	outcomeDrop
	outcomeStall
)

// handleBatch admits a batch, waits the latency, applies it under the
// fault chosen for it and answers as that fault says.
func (s *Simulator) handleBatch(w http.ResponseWriter, r *http.Request) {
	batch, ok := s.admit(w, r)
	if !ok {
		return
	}
	if !s.sleep(r, s.latency()) {
		s.mu.Lock()
		s.stats.Abandoned++
		s.mu.Unlock()
		// Break the connection rather than let the server send an empty 200.
		panic(http.ErrAbortHandler)
	}

	// One hold of the lock from the fault's draw to the last command, so
	// that the random choices of concurrent batches do not interleave.
	s.mu.Lock()
	s.stats.CommandsReceived += len(batch.Commands)
	out := s.faultLocked()
	n := len(batch.Commands)
	if out == outcomePartial {
		n = s.rng.IntN(n)
	}
	res := casapi.BatchResult{BatchID: batch.BatchID, Results: make([]casapi.Result, n)}
	for i, c := range batch.Commands[:n] {
		res.Results[i] = s.processLocked(c)
	}
	s.mu.Unlock()

	s.respond(w, r, out, res)
}

// admit counts the batch and refuses it, answering, when the rate limit or
// the unavailable fault says so (before the body is read), when the body is
// too large or malformed, or when the client went away while sending. It
// reports whether the batch goes on to be applied.
func (s *Simulator) admit(w http.ResponseWriter, r *http.Request) (casapi.Batch, bool) {
	s.mu.Lock()
	s.stats.Batches++
	s.mu.Unlock()
	if !s.admitCall(w, r) {
		return casapi.Batch{}, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeText(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBody))
			return casapi.Batch{}, false
		}
		// The client went away while sending: there is no one to answer.
		return casapi.Batch{}, false
	}
	batch, err := decodeBatch(body)
	if errors.Is(err, casapi.ErrTooMany) {
		writeText(w, http.StatusRequestEntityTooLarge, err.Error())
		return casapi.Batch{}, false
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, casapi.ErrorBody{ErrorCode: casapi.ErrCodeBadRequest, ErrorDescription: err.Error()})
		return casapi.Batch{}, false
	}
	return batch, true
}

// admitCall refuses a call, answering, when the rate limit or the unavailable
// fault says so, before its body is read: batches and queries alike. It reports
// whether the call goes on.
func (s *Simulator) admitCall(w http.ResponseWriter, r *http.Request) bool {
	f := &s.cfg.Faults
	s.mu.Lock()
	if ok, wait := s.limiter.take(time.Now()); !ok {
		s.stats.Faults.RateLimited++
		s.mu.Unlock()
		if f.RetryAfter > 0 {
			wait = f.RetryAfter
		}
		drain(w, r)
		w.Header().Set(casapi.HeaderRetryAfter, retryAfter(wait))
		writeText(w, http.StatusTooManyRequests, "rate limited")
		return false
	}
	if f.Unavailable > 0 && s.rng.Float64() < f.Unavailable {
		s.stats.Faults.Unavailable++
		s.mu.Unlock()
		drain(w, r)
		w.Header().Set(casapi.HeaderRetryAfter, retryAfter(max(f.RetryAfter, time.Second)))
		writeText(w, http.StatusServiceUnavailable, "gateway unavailable")
		return false
	}
	s.mu.Unlock()
	return true
}

// latency draws the wait before a well-formed batch is applied: Latency
// plus a random part of Jitter.
func (s *Simulator) latency() time.Duration {
	f := &s.cfg.Faults
	s.mu.Lock()
	defer s.mu.Unlock()
	delay := f.Latency
	if f.Jitter > 0 {
		delay += time.Duration(s.rng.Int64N(int64(f.Jitter)))
	}
	if delay > 0 {
		s.stats.Faults.Latency++
	}
	return delay
}

// faultLocked draws the fault of one admitted batch, one draw for the three
// that share it, and counts it. s.mu must be held.
func (s *Simulator) faultLocked() outcome {
	f := &s.cfg.Faults
	if f.PartialFailure <= 0 && f.DropAfterApply <= 0 && f.StallAfterApply <= 0 {
		return outcomeAnswer
	}
	switch u := s.rng.Float64(); {
	case u < f.PartialFailure:
		s.stats.Faults.PartialFailure++
		return outcomePartial
	case u < f.PartialFailure+f.DropAfterApply:
		s.stats.Faults.DropAfterApply++
		return outcomeDrop
	case u < f.PartialFailure+f.DropAfterApply+f.StallAfterApply:
		s.stats.Faults.StallAfterApply++
		return outcomeStall
	}
	return outcomeAnswer
}

// respond answers an applied batch as its fault says: 500, a broken
// connection, the results after a stall, or the results.
func (s *Simulator) respond(w http.ResponseWriter, r *http.Request, out outcome, res casapi.BatchResult) {
	switch out {
	case outcomePartial:
		writeText(w, http.StatusInternalServerError, "internal error while applying the batch")
	case outcomeDrop:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			// Not hijackable (HTTP/2): a panic with ErrAbortHandler is the
			// server's own way to break the stream without an answer.
			panic(http.ErrAbortHandler)
		}
		conn.Close()
	case outcomeStall:
		if !s.sleep(r, s.cfg.Faults.Stall) {
			panic(http.ErrAbortHandler)
		}
		writeBatchResult(w, res)
	default:
		writeBatchResult(w, res)
	}
}

// bucket is a token bucket: rate tokens a second, at most burst of them.
type bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

// take spends one token if there is one; otherwise it says how long until
// there is. A zero rate never limits.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	if b.rate <= 0 {
		return true, 0
	}
	if b.last.IsZero() {
		b.tokens = b.burst
	} else {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// retryAfter renders d as whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	secs := int64(math.Ceil(d.Seconds()))
	return strconv.FormatInt(max(secs, 1), 10)
}

// sleep waits d, or until the client goes away or Close is called; it
// reports whether it waited the whole d.
func (s *Simulator) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closed:
		return false
	}
}
