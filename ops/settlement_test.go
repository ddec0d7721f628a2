package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
)

// TestListBySettlement: by settlement time the requests come by executed_date, ties
// broken by number, oldest or newest first, the PENDING ones left out (and not
// counted); pages of every size, each after the (executed_date, number) of the last
// row of the one before, list them all, none lost or repeated.
func TestListBySettlement(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	base := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	type req struct {
		number   int64
		executed time.Time // zero: PENDING
		card     string
	}
	var reqs []req
	var opts []pgtest.RequestOpts
	for i := int64(1); i <= 60; i++ {
		r := req{number: i, card: fmt.Sprintf("C%d", i%3)}
		o := pgtest.RequestOpts{Number: i, Smartcard: r.card, CreatedAt: pgtest.Ptr(base.Add(time.Duration(i) * time.Minute))}
		if i%7 != 0 {
			// Settled out of number order, later numbers often first, and in groups of
			// four at the same instant: ties that only the number breaks.
			r.executed = base.Add(time.Duration((61-i)/4*(1+i%2)) * time.Hour)
			o.State, o.ExecutedDate = "COMPLETED", pgtest.Ptr(r.executed)
		}
		reqs = append(reqs, r)
		opts = append(opts, o)
	}
	pgtest.Requests(t, db, opts...)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	cases := []struct {
		name string
		f    Filter
	}{
		{"all, oldest first", Filter{BySettlement: true}},
		{"all, newest first", Filter{BySettlement: true, Newest: true}},
		{"a settlement range", Filter{BySettlement: true, ExecutedSince: at(3), ExecutedUntil: at(20)}},
		{"a range, newest first", Filter{BySettlement: true, Newest: true, ExecutedSince: at(3), ExecutedUntil: at(20)}},
		{"a card", Filter{BySettlement: true, Smartcard: "C1"}},
		{"PENDING only: none", Filter{BySettlement: true, States: []string{"PENDING"}}},
	}
	for _, c := range cases {
		var want []req
		for _, r := range reqs {
			f := c.f
			if r.executed.IsZero() || (len(f.States) > 0 && !slices.Contains(f.States, "COMPLETED")) ||
				(!f.ExecutedSince.IsZero() && r.executed.Before(f.ExecutedSince)) || (!f.ExecutedUntil.IsZero() && !r.executed.Before(f.ExecutedUntil)) ||
				(f.Smartcard != "" && r.card != f.Smartcard) {
				continue
			}
			want = append(want, r)
		}
		slices.SortFunc(want, func(a, b req) int {
			if c := a.executed.Compare(b.executed); c != 0 {
				return c
			}
			return int(a.number - b.number)
		})
		if c.f.Newest {
			slices.Reverse(want)
		}
		wantNumbers := make([]int64, len(want))
		for i, r := range want {
			wantNumbers[i] = r.number
		}
		numbers := func(rows []Request) []int64 {
			out := make([]int64, len(rows))
			for i, r := range rows {
				out[i] = r.Number
			}
			return out
		}
		rows, err := List(ctx, db, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := numbers(rows); !slices.Equal(got, wantNumbers) {
			t.Errorf("%s: listed %v, want %v", c.name, got, wantNumbers)
		}
		if n, err := CountUpTo(ctx, db, c.f, 1000); err != nil || n != int64(len(want)) {
			t.Errorf("%s: counted %d (%v), want %d", c.name, n, err, len(want))
		}
		for _, size := range []int{1, 3, 4, 7, 100} {
			f := c.f
			f.Limit = size
			var got []int64
			for pages := 0; ; pages++ {
				if pages > len(want)+1 {
					t.Fatalf("%s, pages of %d: no end", c.name, size)
				}
				page, err := List(ctx, db, f)
				if err != nil {
					t.Fatalf("%s, pages of %d: %v", c.name, size, err)
				}
				got = append(got, numbers(page)...)
				if len(page) < size {
					break
				}
				last := page[len(page)-1]
				f.At = *last.ExecutedDate
				if f.Newest {
					f.Before = last.Number
				} else {
					f.After = last.Number
				}
			}
			if !slices.Equal(got, wantNumbers) {
				t.Errorf("%s, pages of %d: listed %v, want %v", c.name, size, got, wantNumbers)
			}
		}
	}
	if _, err := List(ctx, db, Filter{BySettlement: true, After: 5}); !errors.Is(err, ErrNoPositionTime) {
		t.Errorf("a position without its time: %v, want ErrNoPositionTime", err)
	}
}
