package dispatcher

import (
	"strconv"
	"time"
)

// Observer is told what a run sends and writes back, for metrics. Its methods are
// called from the run's batches at once and must be safe for concurrent use and
// quick: a run waits for them.
type Observer interface {
	// BatchSent: one batch of commands went to the gateway and came back after took.
	// status is the HTTP status ("200", "503") or "none" when no answer came
	// (timeout, broken connection); outcome what it means: answered, throttled,
	// malformed, refused, unknown or unreachable.
	BatchSent(status, outcome string, commands int, took time.Duration)
	// Results: n requests were written back in state (COMPLETED, REJECTED, or
	// PENDING to be sent again later) with errorCode ("" for COMPLETED).
	Results(state, errorCode string, n int)
}

// String names the kind for logs and metrics labels.
func (k Kind) String() string {
	switch k {
	case Answered:
		return "answered"
	case Throttled:
		return "throttled"
	case Malformed:
		return "malformed"
	case Refused:
		return "refused"
	case Unknown:
		return "unknown"
	case Unreachable:
		return "unreachable"
	}
	return "kind" + strconv.Itoa(int(k))
}

// statusLabel is the HTTP status of the answer, or "none" without one.
func (o Outcome) statusLabel() string {
	if o.Status == 0 {
		return "none"
	}
	return strconv.Itoa(o.Status)
}
