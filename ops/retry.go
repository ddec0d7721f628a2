package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// Actor is recorded in the audit trail with Filters (the Filter as read if nil).
	Actor   Actor
	Filters any
}

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
	return fmt.Sprintf("%d requests match, but %d were expected: nothing retried (run with --dry-run to see them)", e.Matched, e.Expected)
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
	if opts.DryRun || len(cands) == 0 {
		return cands, nil
	}
	var done []int64
	if err := tx.SelectContext(ctx, &done, provsql.RetryRequests, ids, bumps, opts.Now, seen); err != nil {
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
