package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// Lever is a change an operator makes to PENDING requests: hold, release, cancel,
// reschedule, priority (its Action).
type Lever struct {
	// Action is one of ActionHold, ActionRelease, ActionCancel, ActionReschedule,
	// ActionPriority.
	Action string
	// Reason: cancel's (required: it becomes the error description) and hold's
	// (optional).
	Reason string
	// At: reschedule's new scheduled date.
	At time.Time
	// Priority: priority's new priority (EXPRESS or REGULAR).
	Priority string
}

// LeverOptions say how a lever is confirmed and who pulls it.
type LeverOptions struct {
	// DryRun: find the candidates and say what would happen, change nothing.
	DryRun bool
	// Expect, when not negative, is the count the operator saw (a dry run's): the
	// lever is refused, with nothing changed, if another number of requests match.
	Expect int
	// Now is the lever's time (held_at, executed_date, updated_at, the audit's).
	Now   time.Time
	Actor Actor
	// Command and Filters are recorded in the audit trail: the filters as the
	// operator gave them (the Filter as read if nil).
	Filters any
}

// Outcome is what a lever did (or, dry, would do) to one request it matched.
type Outcome struct {
	Request
	// Changed: the lever changed it (would, on a dry run).
	Changed bool
	// Skipped says why it was left alone ("" when Changed): in flight (claimed by a
	// run whose lease holds), no longer PENDING, already held, not held, already of
	// that priority.
	Skipped string
}

// LeverResult is every request a lever matched, in number order.
type LeverResult struct {
	Outcomes []Outcome
	// Changed counts the Outcomes changed.
	Changed int
}

// Numbers are the numbers of the requests changed.
func (r LeverResult) Numbers() []int64 {
	var out []int64
	for _, o := range r.Outcomes {
		if o.Changed {
			out = append(out, o.Number)
		}
	}
	return out
}

// NotPendingError refuses a lever on one request (Filter.Number) that is not PENDING.
type NotPendingError struct {
	Number int64
	State  string
}

func (e *NotPendingError) Error() string {
	return fmt.Sprintf("request %d is %s: only PENDING requests can be held, released, cancelled, rescheduled or reprioritised", e.Number, e.State)
}

// Check names what is wrong with the lever's parameters.
func (l Lever) Check() error {
	switch l.Action {
	case ActionHold, ActionRelease:
	case ActionCancel:
		if strings.TrimSpace(l.Reason) == "" {
			return errors.New("cancel needs a reason: it becomes the request's error description")
		}
	case ActionReschedule:
		if l.At.IsZero() {
			return errors.New("reschedule needs the new time")
		}
	case ActionPriority:
		if l.Priority != string(provisioning.Express) && l.Priority != string(provisioning.Regular) {
			return fmt.Errorf("priority %q: give EXPRESS or REGULAR", l.Priority)
		}
	default:
		return fmt.Errorf("no such lever %q", l.Action)
	}
	return nil
}

// Pull applies lever l to the PENDING requests f selects (f.States, if given, must be
// PENDING alone; f.Limit is ignored: a lever takes every match, so that its count is
// the one the operator confirmed), in one transaction that also records it in the
// audit trail.
//
// A request in flight (claimed by a run whose lease holds) is never touched: it is
// reported Skipped. The requests changed are first locked FOR UPDATE, so a claim
// running at the same moment either took a request first (which the lock then sees
// leased, and skips), or finds it locked or changed (claim_requests.sql skips locked
// rows and re-checks the latest version of those it locks): a request is either
// claimed and sent or changed by the lever, never both.
func Pull(ctx context.Context, db *store.DB, f Filter, l Lever, opts LeverOptions) (LeverResult, error) {
	if err := l.Check(); err != nil {
		return LeverResult{}, err
	}
	if len(f.States) > 0 && !slices.Equal(f.States, []string{string(provisioning.Pending)}) {
		return LeverResult{}, fmt.Errorf("%s: only PENDING requests can be changed, not %v", l.Action, f.States)
	}
	f.States, f.Limit, f.Offset = []string{string(provisioning.Pending)}, 0, 0
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return LeverResult{}, fmt.Errorf("%s: %w", l.Action, err)
	}
	defer tx.Rollback()
	rows, err := list(ctx, tx, f)
	if err != nil {
		return LeverResult{}, fmt.Errorf("%s: %w", l.Action, err)
	}
	if len(rows) == 0 {
		if err := notPending(ctx, db, f); err != nil {
			return LeverResult{}, err
		}
	}
	res := LeverResult{Outcomes: make([]Outcome, len(rows))}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	for i, r := range rows {
		o := Outcome{Request: r, Skipped: l.skips(r, now)}
		o.Changed = o.Skipped == ""
		res.Outcomes[i] = o
	}
	if opts.Expect >= 0 && len(rows) != opts.Expect {
		res.count()
		return res, &CountMismatchError{Matched: len(rows), Expected: opts.Expect}
	}
	if opts.DryRun || len(rows) == 0 {
		res.count()
		return res, nil
	}

	// Lock what may be changed, as it is now (a claim may have taken some since the
	// list was read), and decide on the locked rows alone.
	ids := make(pq.Int64Array, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	var locked []struct {
		ID       int64  `db:"id"`
		Number   int64  `db:"number"`
		Priority string `db:"priority"`
		Held     bool   `db:"held"`
	}
	if err := tx.SelectContext(ctx, &locked, provsql.LeverLock, ids); err != nil {
		return LeverResult{}, fmt.Errorf("%s: lock requests: %w", l.Action, err)
	}
	change := pq.Int64Array{}
	why := map[int64]string{}
	for _, r := range locked {
		if s := l.refuses(r.Held, r.Priority); s != "" {
			why[r.ID] = s
			continue
		}
		change = append(change, r.ID)
	}
	var changed []int64
	if len(change) > 0 {
		stmt, args := l.statement(change, now, opts.Actor)
		if err := tx.SelectContext(ctx, &changed, stmt, args...); err != nil {
			return LeverResult{}, fmt.Errorf("%s: %w", l.Action, err)
		}
	}
	// What was matched but not locked: in flight now, or settled meanwhile.
	var gone pq.Int64Array
	isLocked := map[int64]bool{}
	for _, r := range locked {
		isLocked[r.ID] = true
	}
	for _, r := range rows {
		if !isLocked[r.ID] {
			gone = append(gone, r.ID)
		}
	}
	if len(gone) > 0 {
		var now2 []struct {
			ID       int64      `db:"id"`
			Number   int64      `db:"number"`
			State    string     `db:"life_cycle_state"`
			Claimed  *int64     `db:"claimed_by"`
			LeaseEnd *time.Time `db:"lease_expires_at"`
		}
		if err := tx.SelectContext(ctx, &now2, provsql.LeverSkipped, gone); err != nil {
			return LeverResult{}, fmt.Errorf("%s: %w", l.Action, err)
		}
		for _, r := range now2 {
			if r.State != string(provisioning.Pending) {
				why[r.ID] = "no longer PENDING: " + r.State
			} else if r.LeaseEnd != nil {
				why[r.ID] = inFlight(r.Claimed, *r.LeaseEnd)
			} else {
				why[r.ID] = "changed meanwhile"
			}
		}
	}
	done := map[int64]bool{}
	for _, n := range changed {
		done[n] = true
	}
	for i := range res.Outcomes {
		o := &res.Outcomes[i]
		o.Changed = done[o.Number]
		o.Skipped = ""
		if o.Changed {
			l.apply(&o.Request, now, opts.Actor)
		} else {
			o.Skipped = why[o.ID]
			if o.Skipped == "" {
				o.Skipped = "changed meanwhile"
			}
		}
	}
	res.count()
	filters := opts.Filters
	if filters == nil {
		filters = f.Given()
	}
	params := map[string]any{"filters": filters}
	switch l.Action {
	case ActionCancel, ActionHold:
		if l.Reason != "" {
			params["reason"] = l.Reason
		}
	case ActionReschedule:
		params["at"] = l.At.UTC()
	case ActionPriority:
		params["priority"] = l.Priority
	}
	if err := Audit(ctx, tx, opts.Actor, l.Action, params, res.Numbers(), now); err != nil {
		return LeverResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return LeverResult{}, fmt.Errorf("%s: commit: %w", l.Action, err)
	}
	return res, nil
}

func (r *LeverResult) count() {
	r.Changed = 0
	for _, o := range r.Outcomes {
		if o.Changed {
			r.Changed++
		}
	}
}

// notPending is the error of a lever that matched nothing when one request was
// named (f.Number): it says what the request is, rather than "nothing matches"; nil
// otherwise.
func notPending(ctx context.Context, db *store.DB, f Filter) error {
	if f.Number == 0 {
		return nil
	}
	r, err := Get(ctx, db, f.Number)
	switch {
	case err == nil:
		return &NotPendingError{Number: r.Number, State: r.State}
	case errors.Is(err, ErrNotFound):
		return err
	}
	return nil
}

// skips says why l, pulled at now, leaves the PENDING request r alone ("" when it
// changes it): in flight (claimed by a run whose lease holds), or what refuses
// says. Pull decides each request by it, PullSummary each group of alike requests.
func (l Lever) skips(r Request, now time.Time) string {
	if r.LeaseExpiresAt != nil && r.LeaseExpiresAt.After(now) {
		return inFlight(r.ClaimedBy, *r.LeaseExpiresAt)
	}
	return l.refuses(r.HeldAt != nil, r.Priority)
}

func inFlight(run *int64, until time.Time) string {
	by := "a run"
	if run != nil {
		by = fmt.Sprintf("run %d", *run)
	}
	return fmt.Sprintf("in flight: claimed by %s, lease until %s", by, until.UTC().Format(time.RFC3339))
}

// refuses says why l leaves a PENDING request that is not in flight alone ("" when
// it changes it).
func (l Lever) refuses(held bool, priority string) string {
	switch {
	case l.Action == ActionHold && held:
		return "already held"
	case l.Action == ActionRelease && !held:
		return "not held"
	case l.Action == ActionPriority && priority == l.Priority:
		return "already " + priority
	}
	return ""
}

// apply makes r what the lever made its row, for the caller to show.
func (l Lever) apply(r *Request, now time.Time, a Actor) {
	switch l.Action {
	case ActionHold:
		t := now.UTC()
		r.HeldAt, r.HeldBy, r.HeldReason = &t, a.operator(), l.Reason
	case ActionRelease:
		r.HeldAt, r.HeldBy, r.HeldReason = nil, "", ""
	case ActionCancel:
		r.State, r.ErrorCode = string(provisioning.Rejected), provisioning.CodeCancelled
		r.HeldAt, r.HeldBy, r.HeldReason = nil, "", ""
	case ActionReschedule:
		r.ScheduledDate, r.NextAttemptAt = l.At.UTC(), nil
	case ActionPriority:
		r.Priority = l.Priority
	}
}

// statement is the lever's UPDATE and its parameters for the locked ids.
func (l Lever) statement(ids pq.Int64Array, now time.Time, a Actor) (string, []any) {
	switch l.Action {
	case ActionHold:
		return provsql.LeverHold, []any{ids, now, a.operator(), l.Reason}
	case ActionRelease:
		return provsql.LeverRelease, []any{ids, now}
	case ActionCancel:
		return provsql.LeverCancel, []any{ids, now, fmt.Sprintf("cancelled by %s: %s", a.operator(), l.Reason)}
	case ActionReschedule:
		return provsql.LeverReschedule, []any{ids, now, l.At}
	default:
		return provsql.LeverPriority, []any{ids, now, l.Priority}
	}
}
