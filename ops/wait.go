package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
)

// WaitKind is one thing a PENDING request can wait for. The kinds are an open list:
// a new reason to hold a request back (a state, a hold) is a new kind here, in
// WaitFor and in the counts of sql/queries/queue_counts.sql, and readers (`requests
// show`, a console) print a kind they do not know by its name.
type WaitKind string

// The kinds of wait. Their names are those of the metrics' wait label and of the
// status JSON (PendingTotals).
const (
	// WaitDue: nothing; the next processing run's claim takes it.
	WaitDue WaitKind = "due"
	// WaitInFlight: claimed by run Wait.Run, whose lease holds until Wait.Until; the
	// run is sending it, or the lease expires and it is claimed again.
	WaitInFlight WaitKind = "in_flight"
	// WaitHeld: held by operator Wait.By since Wait.Since (`requests hold`), for
	// Wait.Reason, until released; a held head also holds back its card's later requests.
	WaitHeld WaitKind = "held"
	// WaitRetry: backing off after a send that did not settle it, until Wait.Until.
	WaitRetry WaitKind = "retry_wait"
	// WaitScheduled: its scheduled date, Wait.Until, is still to come.
	WaitScheduled WaitKind = "scheduled"
	// WaitBlocked: behind request Wait.Request, the head of its smartcard's queue,
	// which goes first (one request per card at a time, in sequence order);
	// Wait.Blocker says what that one waits for.
	WaitBlocked WaitKind = "blocked"
)

// Wait is one reason a PENDING request is not sent yet.
type Wait struct {
	Kind WaitKind `json:"kind"`
	// Until: when a time-bound wait ends (scheduled date, retry time, lease expiry).
	Until *time.Time `json:"until,omitempty"`
	// Run: the processing run holding the lease (in_flight).
	Run *int64 `json:"run,omitempty"`
	// Since, By and Reason: of a held request, when, by whom and why (held).
	Since  *time.Time `json:"since,omitempty"`
	By     string     `json:"by,omitempty"`
	Reason string     `json:"reason,omitempty"`
	// Attempts and ErrorCode: of a request backing off, its unsettled sends so far and
	// why the last did not settle it (retry_wait).
	Attempts  int    `json:"attempts,omitempty"`
	ErrorCode string `json:"error_code,omitempty"`
	// Request, Ahead and Blocker, when blocked: the number of the card's head, how
	// many of the card's PENDING requests come before this one, and what the head
	// itself waits for (never blocked: it is the head).
	Request *int64 `json:"request,omitempty"`
	Ahead   int64  `json:"ahead,omitempty"`
	Blocker []Wait `json:"blocker,omitempty"`
}

// WaitFor says what the PENDING request r waits for at now: every reason that holds
// it back, its own first (lease, backoff, scheduled date), then the card's head when
// it is not the head; [due] when nothing does. Nil for a settled request. One place
// for this rule, shared by `requests show` and, later, a console; it agrees with
// the claim's head rule (sql/queries/claim_requests.sql) and with the counts of
// `status` (sql/queries/queue_counts.sql).
func WaitFor(ctx context.Context, q sqlx.QueryerContext, r Request, now time.Time) ([]Wait, error) {
	if r.State != string(provisioning.Pending) {
		return nil, nil
	}
	var head struct {
		Number         int64      `db:"number"`
		ScheduledDate  time.Time  `db:"scheduled_date"`
		NextAttemptAt  *time.Time `db:"next_attempt_at"`
		ClaimedBy      *int64     `db:"claimed_by"`
		LeaseExpiresAt *time.Time `db:"lease_expires_at"`
		Attempts       int        `db:"attempts"`
		ErrorCode      string     `db:"error_code"`
		HeldAt         *time.Time `db:"held_at"`
		HeldBy         string     `db:"held_by"`
		HeldReason     string     `db:"held_reason"`
		Ahead          int64      `db:"ahead"`
	}
	if err := sqlx.GetContext(ctx, q, &head, provsql.CardQueueHead, r.Smartcard, r.SequenceNumber); err != nil {
		return nil, fmt.Errorf("head of card %s's queue: %w", r.Smartcard, err)
	}
	waits := ownWaits(now, r.ScheduledDate, r.NextAttemptAt, r.ClaimedBy, r.LeaseExpiresAt, r.Attempts, r.ErrorCode,
		hold{r.HeldAt, r.HeldBy, r.HeldReason})
	if head.Number != r.Number {
		n := head.Number
		blocker := ownWaits(now, head.ScheduledDate, head.NextAttemptAt, head.ClaimedBy, head.LeaseExpiresAt, head.Attempts, head.ErrorCode,
			hold{head.HeldAt, head.HeldBy, head.HeldReason})
		if len(blocker) == 0 {
			blocker = []Wait{{Kind: WaitDue}}
		}
		waits = append(waits, Wait{Kind: WaitBlocked, Request: &n, Ahead: head.Ahead, Blocker: blocker})
	}
	if len(waits) == 0 {
		waits = []Wait{{Kind: WaitDue}}
	}
	return waits, nil
}

// hold is an operator's hold on a request (`requests hold`): at nil when not held.
type hold struct {
	at         *time.Time
	by, reason string
}

// ownWaits are the reasons a PENDING request waits of its own, whatever its card's
// queue: the claim's tests of the request itself (claim_requests.sql).
func ownWaits(now, scheduled time.Time, nextAttempt *time.Time, claimedBy *int64, lease *time.Time, attempts int, code string, h hold) []Wait {
	var out []Wait
	if lease != nil && lease.After(now) {
		out = append(out, Wait{Kind: WaitInFlight, Until: utcPtr(*lease), Run: claimedBy})
	}
	if h.at != nil {
		out = append(out, Wait{Kind: WaitHeld, Since: utcPtr(*h.at), By: h.by, Reason: h.reason})
	}
	if nextAttempt != nil && nextAttempt.After(now) {
		out = append(out, Wait{Kind: WaitRetry, Until: utcPtr(*nextAttempt), Attempts: attempts, ErrorCode: code})
	}
	if scheduled.After(now) {
		out = append(out, Wait{Kind: WaitScheduled, Until: utcPtr(scheduled)})
	}
	return out
}

func utcPtr(t time.Time) *time.Time {
	u := t.UTC()
	return &u
}
