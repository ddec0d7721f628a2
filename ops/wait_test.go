package ops

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
	provsql "github.com/provisioner/provisioner/sql"
)

// TestDueIsWhatTheClaimTakes (issue 11, part 4): on a queue with every kind of wait,
// status's due requests are exactly those a claim takes, the blocked ones are
// counted by what blocks them, the oldest pending is the oldest due (not an older
// blocked one), and WaitFor says of each request what it waits for.
func TestDueIsWhatTheClaimTakes(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	now := time.Now()
	ago := func(d time.Duration) *time.Time { return pgtest.Ptr(now.Add(-d)) }
	in := func(d time.Duration) *time.Time { return pgtest.Ptr(now.Add(d)) }
	r := func(number int64, card string, o pgtest.RequestOpts) pgtest.RequestOpts {
		o.Number, o.Smartcard = number, card
		if o.ScheduledDate == nil {
			o.ScheduledDate = ago(time.Hour)
		}
		if o.CreatedAt == nil {
			o.CreatedAt = ago(2 * time.Hour)
		}
		return o
	}
	pgtest.Requests(t, db, // in sequence order: the first of a card is its head
		r(1, "A", pgtest.RequestOpts{}),                                                                           // due
		r(2, "B", pgtest.RequestOpts{ScheduledDate: in(240 * time.Hour)}),                                         // scheduled
		r(3, "B", pgtest.RequestOpts{ScheduledDate: ago(72 * time.Hour), CreatedAt: ago(73 * time.Hour)}),         // blocked by 2, older than any due
		r(4, "C", pgtest.RequestOpts{NextAttemptAt: in(time.Hour), Attempts: 2, ErrorCode: pgtest.Ptr("E_BUSY")}), // retry wait
		r(5, "C", pgtest.RequestOpts{}),                                                                           // blocked by 4
		r(6, "D", pgtest.RequestOpts{ClaimedBy: 7, LeaseExpiresAt: in(time.Minute)}),                              // in flight
		r(7, "D", pgtest.RequestOpts{Priority: "EXPRESS"}),                                                        // blocked by 6
		r(8, "E", pgtest.RequestOpts{ScheduledDate: ago(3 * time.Hour)}),                                          // due, the oldest due
		r(9, "E", pgtest.RequestOpts{}),                                                                           // blocked by 8 (due)
		r(10, "E", pgtest.RequestOpts{ScheduledDate: in(time.Hour)}),                                              // scheduled (its own first)
		r(11, "F", pgtest.RequestOpts{State: "COMPLETED", ExecutedDate: ago(time.Minute)}),                        // settled: no head
		r(12, "F", pgtest.RequestOpts{Priority: "EXPRESS"}),                                                       // due
		r(13, "G", pgtest.RequestOpts{ClaimedBy: 3, LeaseExpiresAt: ago(time.Minute)}),                            // lease expired: due
	)

	st, err := Snapshot(ctx, db, StatusOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := PendingTotals{Due: 4, InFlight: 1, RetryWait: 1, Scheduled: 2, Blocked: 4,
		BlockedBy: BlockedBy{Due: 1, InFlight: 1, RetryWait: 1, Scheduled: 1}}
	if st.Requests.Pending != want {
		t.Errorf("pending %+v,\nwant    %+v", st.Requests.Pending, want)
	}
	if o := st.OldestPending; o == nil || o.Number != 8 {
		t.Errorf("oldest pending %+v, want request 8 (3 is older, but blocked)", o)
	}

	// What a claim takes, in a transaction rolled back: the due ones, no other.
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryxContext(ctx, provsql.ClaimRequests, 99, 100, 60, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	var claimed []int64
	for rows.Next() {
		m := map[string]any{}
		if err := rows.MapScan(m); err != nil {
			t.Fatal(err)
		}
		claimed = append(claimed, m["number"].(int64))
	}
	rows.Close()
	slices.Sort(claimed)
	if !slices.Equal(claimed, []int64{1, 8, 12, 13}) || int64(len(claimed)) != st.Requests.Pending.Due {
		t.Errorf("the claim took %v; status says %d due (1, 8, 12, 13)", claimed, st.Requests.Pending.Due)
	}
	tx.Rollback()

	// PostgreSQL rounds to the microsecond (it does not truncate): a truncated stamp
	// failed whenever the nanoseconds were 500 or more.
	stamp := func(p *time.Time) string { return p.UTC().Round(time.Microsecond).Format(time.RFC3339Nano) }
	cases := []struct {
		number int64
		want   string // WaitFor as JSON, times as stamp gives them
	}{
		{1, `[{"kind":"due"}]`},
		{2, `[{"kind":"scheduled","until":"` + stamp(in(240*time.Hour)) + `"}]`},
		{3, `[{"kind":"blocked","request":2,"ahead":1,"blocker":[{"kind":"scheduled","until":"` + stamp(in(240*time.Hour)) + `"}]}]`},
		{5, `[{"kind":"blocked","request":4,"ahead":1,"blocker":[{"kind":"retry_wait","until":"` + stamp(in(time.Hour)) + `","attempts":2,"error_code":"E_BUSY"}]}]`},
		{7, `[{"kind":"blocked","request":6,"ahead":1,"blocker":[{"kind":"in_flight","until":"` + stamp(in(time.Minute)) + `","run":7}]}]`},
		{9, `[{"kind":"blocked","request":8,"ahead":1,"blocker":[{"kind":"due"}]}]`},
		{10, `[{"kind":"scheduled","until":"` + stamp(in(time.Hour)) + `"},{"kind":"blocked","request":8,"ahead":2,"blocker":[{"kind":"due"}]}]`},
		{11, `null`},
		{13, `[{"kind":"due"}]`},
	}
	for _, c := range cases {
		req, err := Get(ctx, db, c.number)
		if err != nil {
			t.Fatal(err)
		}
		waits, err := WaitFor(ctx, db, req, now)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(waits)
		if string(got) != c.want {
			t.Errorf("request %d waits for\n%s, want\n%s", c.number, got, c.want)
		}
	}
}
