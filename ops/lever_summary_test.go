package ops_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
)

// TestPullSummary: a lever's dry run in counts says what Pull's dry run says of
// every request (the count the lever is confirmed with, how many it would change,
// how many it would skip and why), and its sample is the first of Pull's outcomes,
// decided alike: for every lever, on requests free, held, EXPRESS, in flight, with
// an expired lease, and settled (never matched).
func TestPullSummary(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	now := time.Now()
	future, past := now.Add(time.Hour), now.Add(-time.Hour)
	var opts []pgtest.RequestOpts
	for i := 0; i < 12; i++ {
		o := pgtest.RequestOpts{Smartcard: fmt.Sprintf("S%d", i), Type: "RESET_SMARTCARD"}
		switch i % 6 {
		case 1:
			o.Priority = "EXPRESS"
		case 2:
			o.ClaimedBy, o.LeaseExpiresAt = 7, &future
		case 3:
			o.ClaimedBy, o.LeaseExpiresAt = 7, &past // the run died: no longer in flight
		case 4:
			o.State = "COMPLETED"
		}
		opts = append(opts, o)
	}
	nums := pgtest.Requests(t, db, opts...)
	// Every sixth, and one in flight, held.
	if _, err := db.Exec(`UPDATE provisioning_requests SET held_at = now(), held_by = 'bob'
	    WHERE number = ANY ($1)`, fmt.Sprintf("{%d,%d,%d}", nums[5], nums[11], nums[8])); err != nil {
		t.Fatal(err)
	}
	filter := ops.Filter{Types: []string{"RESET_SMARTCARD"}}
	later := now.Add(48 * time.Hour)
	for _, c := range []struct {
		name  string
		lever ops.Lever
		f     ops.Filter
	}{
		{"hold", ops.Lever{Action: ops.ActionHold}, filter},
		{"release", ops.Lever{Action: ops.ActionRelease}, filter},
		{"cancel", ops.Lever{Action: ops.ActionCancel, Reason: "gone"}, filter},
		{"reschedule", ops.Lever{Action: ops.ActionReschedule, At: later}, filter},
		{"priority EXPRESS", ops.Lever{Action: ops.ActionPriority, Priority: "EXPRESS"}, filter},
		{"priority REGULAR", ops.Lever{Action: ops.ActionPriority, Priority: "REGULAR"}, filter},
		{"EXPRESS only", ops.Lever{Action: ops.ActionHold}, ops.Filter{Priorities: []string{"EXPRESS"}}},
		{"state PENDING given", ops.Lever{Action: ops.ActionRelease}, ops.Filter{States: []string{"PENDING"}, Types: []string{"RESET_SMARTCARD"}}},
		{"one held", ops.Lever{Action: ops.ActionHold}, ops.Filter{Number: nums[5]}},
		{"nothing", ops.Lever{Action: ops.ActionHold}, ops.Filter{Subscription: "no such"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			const sample = 4
			dry, err := ops.Pull(ctx, db, c.f, c.lever, ops.LeverOptions{DryRun: true, Expect: -1, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ops.PullSummary(ctx, db, c.f, c.lever, now, sample)
			if err != nil {
				t.Fatal(err)
			}
			skipped := map[string]int{}
			for _, o := range dry.Outcomes {
				if !o.Changed {
					skipped[ops.SkipKind(o.Skipped)]++
				}
			}
			if got.Matched != len(dry.Outcomes) || got.Changed != dry.Changed {
				t.Errorf("matched %d, changed %d; Pull's dry run: %d, %d", got.Matched, got.Changed, len(dry.Outcomes), dry.Changed)
			}
			n := 0
			for _, s := range got.Skipped {
				if skipped[s.Reason] != s.Count {
					t.Errorf("skipped %d (%s), Pull's dry run %d (all: %v)", s.Count, s.Reason, skipped[s.Reason], skipped)
				}
				n++
			}
			if n != len(skipped) {
				t.Errorf("skipped %+v, Pull's dry run %v", got.Skipped, skipped)
			}
			if len(got.Sample) != min(sample, len(dry.Outcomes)) {
				t.Fatalf("sample of %d, want %d", len(got.Sample), min(sample, len(dry.Outcomes)))
			}
			for i, o := range got.Sample {
				w := dry.Outcomes[i]
				if o.Number != w.Number || o.Changed != w.Changed || o.Skipped != w.Skipped || o.Type != w.Type {
					t.Errorf("sample %d: %d %v %q, Pull's dry run %d %v %q", i, o.Number, o.Changed, o.Skipped, w.Number, w.Changed, w.Skipped)
				}
			}
		})
	}

	// Refused as Pull refuses: a settled request named, a number no request has,
	// another state, a lever without what it needs.
	var np *ops.NotPendingError
	if _, err := ops.PullSummary(ctx, db, ops.Filter{Number: nums[4]}, ops.Lever{Action: ops.ActionHold}, now, 4); !errors.As(err, &np) || np.State != "COMPLETED" {
		t.Errorf("a COMPLETED request named: %v", err)
	}
	if _, err := ops.PullSummary(ctx, db, ops.Filter{Number: 999999}, ops.Lever{Action: ops.ActionHold}, now, 4); !errors.Is(err, ops.ErrNotFound) {
		t.Errorf("no such request: %v", err)
	}
	if _, err := ops.PullSummary(ctx, db, ops.Filter{States: []string{"REJECTED"}}, ops.Lever{Action: ops.ActionHold}, now, 4); err == nil {
		t.Error("REJECTED requests held")
	}
	if _, err := ops.PullSummary(ctx, db, filter, ops.Lever{Action: ops.ActionCancel}, now, 4); err == nil {
		t.Error("a cancel without a reason")
	}
}
