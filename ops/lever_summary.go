package ops

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// LeverSummary is a lever's dry run told in counts: what Pull with DryRun says of
// every request, without reading them all (the console's bulk confirmation of
// 10,000 requests read them whole to show 20).
type LeverSummary struct {
	// Matched is the count Pull compares with LeverOptions.Expect: confirm with it.
	Matched int
	// Changed counts the requests the lever would change.
	Changed int
	// Skipped counts the others by the kind of their reason (SkipKind), the most
	// first.
	Skipped []SkipCount
	// Sample is the first of the matches in number order, each decided as Pull
	// would: at most the sample asked for.
	Sample []Outcome
}

// SkipCount is how many requests a lever leaves alone for one kind of reason.
type SkipCount struct {
	Reason string
	Count  int
}

// SkipKind is the kind of a reason a lever gives for leaving a request alone, its
// details left out: "in flight" for "in flight: claimed by run 7, lease until ...".
func SkipKind(reason string) string {
	kind, _, _ := strings.Cut(reason, ":")
	return kind
}

// PullSummary is Pull's dry run in counts: the requests f selects counted by what
// the lever would do (lever_dry_run.sql: the few columns its rule reads, grouped,
// each group decided by the rule Pull applies), and the first sample of them in
// number order, listed and decided as Pull would. Both in one snapshot, so that
// the sample and the count agree. A request named alone (f.Number) that is not
// PENDING is a *NotPendingError, as in Pull.
func PullSummary(ctx context.Context, db *store.DB, f Filter, l Lever, now time.Time, sample int) (LeverSummary, error) {
	if err := l.Check(); err != nil {
		return LeverSummary{}, err
	}
	if len(f.States) > 0 && !slices.Equal(f.States, []string{string(provisioning.Pending)}) {
		return LeverSummary{}, fmt.Errorf("%s: only PENDING requests can be changed, not %v", l.Action, f.States)
	}
	f.States, f.Offset = []string{string(provisioning.Pending)}, 0
	if now.IsZero() {
		now = time.Now()
	}
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return LeverSummary{}, fmt.Errorf("%s dry run: %w", l.Action, err)
	}
	defer tx.Rollback()
	f.Limit = 0
	args, none, err := f.resolve(ctx, tx)
	if err != nil {
		return LeverSummary{}, fmt.Errorf("%s dry run: %w", l.Action, err)
	}
	var s LeverSummary
	if !none {
		var groups []struct {
			InFlight bool   `db:"in_flight"`
			Held     bool   `db:"held"`
			Priority string `db:"priority"`
			N        int    `db:"n"`
		}
		if err := tx.SelectContext(ctx, &groups, provsql.LeverDryRun, append(args, now)...); err != nil {
			return LeverSummary{}, fmt.Errorf("%s dry run: count: %w", l.Action, err)
		}
		for _, g := range groups {
			// A request like the group's, for the rule: only what it reads.
			r := Request{Priority: g.Priority}
			if g.Held {
				r.HeldAt = &now
			}
			if g.InFlight {
				until := now.Add(time.Second)
				r.LeaseExpiresAt = &until
			}
			s.add(SkipKind(l.skips(r, now)), g.N)
		}
	}
	if s.Matched == 0 {
		if err := notPending(ctx, db, f); err != nil {
			return LeverSummary{}, err
		}
		return s, nil
	}
	f.Limit = sample
	rows, err := list(ctx, tx, f)
	if err != nil {
		return LeverSummary{}, fmt.Errorf("%s dry run: sample: %w", l.Action, err)
	}
	for _, r := range rows {
		o := Outcome{Request: r, Skipped: l.skips(r, now)}
		o.Changed = o.Skipped == ""
		s.Sample = append(s.Sample, o)
	}
	slices.SortStableFunc(s.Skipped, func(a, b SkipCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	return s, nil
}

// add counts n requests of one group: changed when reason is "".
func (s *LeverSummary) add(reason string, n int) {
	s.Matched += n
	if reason == "" {
		s.Changed += n
		return
	}
	i := slices.IndexFunc(s.Skipped, func(c SkipCount) bool { return c.Reason == reason })
	if i < 0 {
		s.Skipped = append(s.Skipped, SkipCount{Reason: reason})
		i = len(s.Skipped) - 1
	}
	s.Skipped[i].Count += n
}
