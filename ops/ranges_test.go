package ops

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
)

// TestRangesAsNumberBounds: a created or executed range lists and counts exactly
// the requests a scan of them all finds, although filter_constants.sql turns it into
// number bounds: numbers follow creation time only up to CreateSkew (requests
// created out of number order within it, as concurrent transactions make them), and
// a request may settle long after its creation.
func TestRangesAsNumberBounds(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	base := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	type req struct {
		number            int64
		created, executed time.Time
	}
	var reqs []req
	var opts []pgtest.RequestOpts
	for i := int64(1); i <= 300; i++ {
		// An hour a request, each created up to CreateSkew before its place in number
		// order; every fifth settled days later.
		created := base.Add(time.Duration(i)*time.Hour - time.Duration(rng.Int64N(int64(CreateSkew))))
		executed := created.Add(time.Duration(rng.IntN(600)) * time.Second)
		if i%5 == 0 {
			executed = created.Add(time.Duration(rng.IntN(20*24)) * time.Hour)
		}
		reqs = append(reqs, req{i, created, executed})
		opts = append(opts, pgtest.RequestOpts{Number: i, State: "COMPLETED", Smartcard: fmt.Sprintf("C%d", i%7),
			CreatedAt: pgtest.Ptr(created), ExecutedDate: pgtest.Ptr(executed)})
	}
	pgtest.Requests(t, db, opts...)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	cases := []struct {
		name string
		f    Filter
	}{
		{"created, a day", Filter{CreatedSince: at(100), CreatedUntil: at(124)}},
		{"created since", Filter{CreatedSince: at(250)}},
		{"created until", Filter{CreatedUntil: at(30)}},
		{"created before them all", Filter{CreatedUntil: at(-5)}},
		{"created after them all", Filter{CreatedSince: at(400)}},
		{"created, a day, after a number", Filter{CreatedSince: at(100), CreatedUntil: at(124), After: 110}},
		{"executed, a day", Filter{ExecutedSince: at(100), ExecutedUntil: at(124)}},
		{"executed until", Filter{ExecutedUntil: at(60)}},
		{"executed since", Filter{ExecutedSince: at(280)}},
		{"both, and a card", Filter{CreatedSince: at(50), ExecutedUntil: at(200), Smartcard: "C3"}},
		{"created, newest first", Filter{CreatedSince: at(100), CreatedUntil: at(124), Newest: true}},
		{"created since, a card", Filter{CreatedSince: at(200), Smartcard: "C2"}},
		{"created since, within the skew", Filter{CreatedSince: at(100), CreatedUntil: at(102)}},
	}
	for _, c := range cases {
		var want []int64
		for _, r := range reqs {
			f := c.f
			if (!f.CreatedSince.IsZero() && r.created.Before(f.CreatedSince)) || (!f.CreatedUntil.IsZero() && !r.created.Before(f.CreatedUntil)) ||
				(!f.ExecutedSince.IsZero() && r.executed.Before(f.ExecutedSince)) || (!f.ExecutedUntil.IsZero() && !r.executed.Before(f.ExecutedUntil)) ||
				(f.Smartcard != "" && fmt.Sprintf("C%d", r.number%7) != f.Smartcard) || (f.After != 0 && r.number <= f.After) {
				continue
			}
			want = append(want, r.number)
		}
		if c.f.Newest {
			slices.Reverse(want)
		}
		rows, err := List(ctx, db, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []int64
		for _, r := range rows {
			got = append(got, r.Number)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: listed %v, want %v", c.name, got, want)
		}
		if n, err := CountUpTo(ctx, db, c.f, 1000); err != nil || n != int64(len(want)) {
			t.Errorf("%s: counted %d (%v), want %d", c.name, n, err, len(want))
		}
		// Capped: a created since range is counted in two parts (countParts), the
		// cap passed in the first, in the second, or at their seam.
		for _, max := range []int64{0, 1, 2, int64(len(want)) / 2, int64(len(want)) - 1} {
			if max < 0 {
				continue
			}
			if n, err := CountUpTo(ctx, db, c.f, max); err != nil || n != min(max+1, int64(len(want))) {
				t.Errorf("%s: counted up to %d: %d (%v), want %d", c.name, max, n, err, min(max+1, int64(len(want))))
			}
		}
		f := c.f
		f.Limit = 3
		if page, err := List(ctx, db, f); err != nil || len(page) != min(3, len(want)) {
			t.Errorf("%s: a page of 3: %d rows (%v), want %d", c.name, len(page), err, min(3, len(want)))
		}
	}
}

// TestCountUpToSettledCounts: a filter of states, types and priorities alone is
// "more than the cap" from settled_counts when its settled requests pass it, and is
// counted otherwise; PENDING ones are always counted.
func TestCountUpToSettledCounts(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	var opts []pgtest.RequestOpts
	for i := 0; i < 6; i++ {
		opts = append(opts, pgtest.RequestOpts{State: "COMPLETED", Type: "PAIR", Smartcard: fmt.Sprintf("K%d", i)})
	}
	for i := 0; i < 3; i++ {
		opts = append(opts, pgtest.RequestOpts{Type: "PAIR", Smartcard: fmt.Sprintf("P%d", i)})
	}
	pgtest.Requests(t, db, opts...)
	for _, c := range []struct {
		f         Filter
		max, want int64
	}{
		{Filter{Types: []string{"PAIR"}}, 4, 5},
		{Filter{Types: []string{"PAIR"}}, 20, 9},
		{Filter{States: []string{"COMPLETED"}}, 5, 6},
		{Filter{States: []string{"COMPLETED"}}, 6, 6},
		{Filter{States: []string{"PENDING"}}, 2, 3},
		{Filter{States: []string{"PENDING"}}, 5, 3},
		{Filter{Types: []string{"UNPAIR"}}, 5, 0},
	} {
		if n, err := CountUpTo(ctx, db, c.f, c.max); err != nil || n != c.want {
			t.Errorf("CountUpTo(%v, %d) = %d, %v; want %d", c.f.Given(), c.max, n, err, c.want)
		}
	}
}

// TestSnapshotPendingCap: above StatusOptions.PendingCap the PENDING requests are
// "more than the cap", unbroken down; at or under it, counted as without a cap.
func TestSnapshotPendingCap(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	var opts []pgtest.RequestOpts
	for i := 0; i < 5; i++ {
		opts = append(opts, pgtest.RequestOpts{Smartcard: fmt.Sprintf("K%d", i)})
	}
	opts = append(opts, pgtest.RequestOpts{State: "COMPLETED", Smartcard: "S1"}, pgtest.RequestOpts{State: "REJECTED", Smartcard: "S2"})
	pgtest.Requests(t, db, opts...)
	now := time.Now().Add(time.Minute)
	for _, c := range []struct {
		cap, more, pending, total, due int64
		oldest                         bool
	}{
		{0, 0, 5, 7, 5, true}, {5, 0, 5, 7, 5, true}, {10, 0, 5, 7, 5, true}, {3, 3, 4, 6, 0, false},
	} {
		st, err := Snapshot(ctx, db, StatusOptions{Now: now, PendingCap: c.cap})
		if err != nil {
			t.Fatal(err)
		}
		r := st.Requests
		if r.PendingMoreThan != c.more || r.ByState["PENDING"] != c.pending || r.Total != c.total || r.Pending.Due != c.due ||
			(st.OldestPending != nil) != c.oldest || r.ByState["COMPLETED"] != 1 || r.ByState["REJECTED"] != 1 {
			t.Errorf("cap %d: more than %d, by state %v, total %d, due %d, oldest %v; want more than %d, PENDING %d, total %d, due %d, oldest %v",
				c.cap, r.PendingMoreThan, r.ByState, r.Total, r.Pending.Due, st.OldestPending, c.more, c.pending, c.total, c.due, c.oldest)
		}
	}
}
