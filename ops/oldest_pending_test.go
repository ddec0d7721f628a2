package ops_test

import (
	"context"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
)

// TestOldestPendingAcrossGroups: status's oldest due request is the earliest due of
// all the groups (state, type, priority) that queue_counts.sql counts, the lowest
// sequence number first among those due since the same time, with its own attempts
// and error code.
func TestOldestPendingAcrossGroups(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	at := func(d time.Duration) *time.Time { return pgtest.Ptr(now.Add(-d)) }
	tests := []struct {
		name string
		reqs []pgtest.RequestOpts
		want int64 // 0: none
	}{
		{"none due", []pgtest.RequestOpts{{Number: 1, Smartcard: "A", ScheduledDate: pgtest.Ptr(now.Add(time.Hour)), CreatedAt: at(time.Hour)}}, 0},
		{"the earliest in another group", []pgtest.RequestOpts{
			{Number: 1, Smartcard: "A", Type: "PAIR", ScheduledDate: at(2 * time.Hour), CreatedAt: at(3 * time.Hour)},
			{Number: 2, Smartcard: "B", Type: "RESET_PIN", ScheduledDate: at(4 * time.Hour), CreatedAt: at(5 * time.Hour), Attempts: 2, ErrorCode: pgtest.Ptr("E_BUSY")},
			{Number: 3, Smartcard: "C", Priority: "EXPRESS", ScheduledDate: at(time.Hour), CreatedAt: at(time.Hour)},
		}, 2},
		{"due since the same time: the first in sequence", []pgtest.RequestOpts{
			{Number: 1, Smartcard: "A", Type: "PAIR", SequenceNumber: 20, ScheduledDate: at(time.Hour), CreatedAt: at(2 * time.Hour)},
			{Number: 2, Smartcard: "B", Type: "RESET_PIN", SequenceNumber: 10, ScheduledDate: at(time.Hour), CreatedAt: at(2 * time.Hour)},
		}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := pgtest.New(t)
			pgtest.Requests(t, db, tc.reqs...)
			st, err := ops.Snapshot(context.Background(), db, ops.StatusOptions{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			o := st.OldestPending
			if tc.want == 0 {
				if o != nil {
					t.Errorf("oldest pending %+v, want none", o)
				}
				return
			}
			if o == nil || o.Number != tc.want {
				t.Fatalf("oldest pending %+v, want request %d", o, tc.want)
			}
			for _, r := range tc.reqs {
				if r.Number != tc.want {
					continue
				}
				code := ""
				if r.ErrorCode != nil {
					code = *r.ErrorCode
				}
				if !o.DueSince.Equal(*r.ScheduledDate) || o.Attempts != r.Attempts || o.ErrorCode != code ||
					o.AgeSeconds != int64(now.Sub(*r.ScheduledDate)/time.Second) {
					t.Errorf("oldest pending %+v, want due since %v, %d attempts, error %q", o, *r.ScheduledDate, r.Attempts, code)
				}
			}
		})
	}
}
