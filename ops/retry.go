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

// RetryOptions say how a retry is confirmed.
type RetryOptions struct {
	// DryRun: find the candidates, change nothing.
	DryRun bool
	// Expect, when not negative, is the count the operator saw (a dry run's): the
	// retry is refused, with nothing changed, if another number of requests match.
	Expect int
	// Now is the retry's time (retried_at, updated_at).
	Now time.Time
	// PIN is the PIN of a SET_PIN to retry: its own was erased when it was settled.
	// Given, the retry must match that one SET_PIN request alone.
	PIN string
	// Actor is recorded in the audit trail with Filters (the Filter as read if nil).
	Actor   Actor
	Filters any
}

// PINNeededError refuses a retry that matches SET_PIN requests whose PIN was erased
// when they were settled (the PIN is a customer secret, kept only until then):
// each must be retried alone, with the PIN again.
type PINNeededError struct{ Numbers []int64 }

func (e *PINNeededError) Error() string {
	what := "request %s is a SET_PIN whose PIN was erased when it was settled: retry it alone with the PIN"
	if len(e.Numbers) > 1 {
		what = "requests %s are SET_PIN requests whose PINs were erased when they were settled: retry each alone with its PIN"
	}
	return fmt.Sprintf(what+" (requests retry --number %d --pin NNNN --yes); nothing retried", joinNumbers(e.Numbers), e.Numbers[0])
}

// ErrPINUse refuses a --pin that does not go with exactly one SET_PIN request.
var ErrPINUse = errors.New("a PIN is given with the retry of exactly one SET_PIN request")

// Candidate is a REJECTED request a retry puts (or would put) back to PENDING.
type Candidate struct {
	Request
	// NewCommandID: the gateway rejected it, so it is sent under a new command_id.
	NewCommandID bool
	// NextCommandID is the command_id of its next send.
	NextCommandID string
}

// CountMismatchError refuses a retry whose match count is not the one expected.
type CountMismatchError struct{ Matched, Expected int }

func (e *CountMismatchError) Error() string {
	return fmt.Sprintf("%s, but %d were expected: nothing retried (run with --dry-run to see them)", matchCount(e.Matched), e.Expected)
}

// ErrChanged: a candidate changed between the selection and the update (another
// operator retried it meanwhile); nothing was retried.
var ErrChanged = errors.New("requests changed while they were being retried")

// Retry puts the REJECTED requests that f selects back to PENDING (see the package
// doc for the command_id and order rules) in one transaction, and returns them in
// their sending order. f.States, if given, must be REJECTED alone; f.Limit is ignored:
// a retry takes every match, so that its count is the one the operator confirmed.
func Retry(ctx context.Context, db *store.DB, f Filter, opts RetryOptions) ([]Candidate, error) {
	if len(f.States) > 0 && !slices.Equal(f.States, []string{string(provisioning.Rejected)}) {
		return nil, fmt.Errorf("retry: only REJECTED requests can be retried, not %v", f.States)
	}
	f.States, f.Limit = []string{string(provisioning.Rejected)}, 0
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	defer tx.Rollback()
	rows, err := list(ctx, tx, f)
	if err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	slices.SortFunc(rows, func(a, b Request) int { return int(a.SequenceNumber - b.SequenceNumber) })
	cands := make([]Candidate, len(rows))
	ids, bumps, seen := make(pq.Int64Array, len(rows)), make(pq.BoolArray, len(rows)), make(pq.StringArray, len(rows))
	for i, r := range rows {
		c := Candidate{Request: r, NewCommandID: r.RejectedByGateway()}
		gen := r.CommandGeneration
		if c.NewCommandID {
			gen++
		}
		c.NextCommandID = provisioning.CommandID(r.Number, gen)
		cands[i] = c
		ids[i], bumps[i], seen[i] = r.ID, c.NewCommandID, r.UpdatedAt.Format(time.RFC3339Nano)
	}
	if opts.Expect >= 0 && len(cands) != opts.Expect {
		return cands, &CountMismatchError{Matched: len(cands), Expected: opts.Expect}
	}
	pins := make(pq.StringArray, len(cands)) // '': keep the row's
	if opts.PIN != "" {
		if len(cands) != 1 || cands[0].Type != string(provisioning.SetPIN) {
			return cands, fmt.Errorf("retry: --pin: %w, but %s", ErrPINUse, matchedTypes(cands))
		}
		if why := provisioning.PINProblem(opts.PIN); why != "" {
			return cands, fmt.Errorf("retry: --pin: %s", why)
		}
		pins[0] = opts.PIN
	} else {
		var need []int64
		for _, c := range cands {
			if c.Type == string(provisioning.SetPIN) && c.PIN == "" {
				need = append(need, c.Number)
			}
		}
		if len(need) > 0 {
			return cands, &PINNeededError{Numbers: need}
		}
	}
	if opts.DryRun || len(cands) == 0 {
		return cands, nil
	}
	var done []int64
	if err := tx.SelectContext(ctx, &done, provsql.RetryRequests, ids, bumps, opts.Now, seen, pins); err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	if len(done) != len(cands) {
		return nil, fmt.Errorf("retry: %w: %d of %d could be retried; nothing retried, run it again", ErrChanged, len(done), len(cands))
	}
	filters := opts.Filters
	if filters == nil {
		filters = f.Given()
	}
	nums := make([]int64, len(cands))
	for i, c := range cands {
		nums[i] = c.Number
	}
	if err := Audit(ctx, tx, opts.Actor, ActionRetry, map[string]any{"filters": filters}, nums, opts.Now); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("retry: commit: %w", err)
	}
	return cands, nil
}

func matchedTypes(cands []Candidate) string {
	switch len(cands) {
	case 0:
		return "no request matches"
	case 1:
		return "request " + fmt.Sprint(cands[0].Number) + " is " + cands[0].Type
	}
	return matchCount(len(cands))
}

func joinNumbers(ns []int64) string {
	const most = 10
	parts := make([]string, 0, min(len(ns), most))
	for _, n := range ns[:min(len(ns), most)] {
		parts = append(parts, fmt.Sprint(n))
	}
	if len(ns) > most {
		parts = append(parts, "...")
	}
	return strings.Join(parts, ", ")
}

func matchCount(n int) string {
	if n == 1 {
		return "1 request matches"
	}
	return fmt.Sprintf("%d requests match", n)
}
