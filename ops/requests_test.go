package ops

import (
	"context"
	"fmt"
	"testing"

	"github.com/provisioner/provisioner/internal/pgtest"
)

// TestListPagingAndNulls: on known requests, Count is what List returns without its
// limit and offset, paging takes the right slice in number order, ID and
// ReferenceNumber select exactly (the reference's number bounds with the card's), a NULL text is told from ”, and NoNames leaves
// the names out.
func TestListPagingAndNulls(t *testing.T) {
	db, _ := pgtest.New(t)
	// Six requests: 1-3 COMPLETED with references, 4 REJECTED after a send without an
	// answer (response and error description ''), 5-6 PENDING, never sent (NULLs).
	done := func(number int64, typ, card, ref string) pgtest.RequestOpts {
		return pgtest.RequestOpts{Number: number, Type: typ, State: "COMPLETED", Smartcard: card, Request: pgtest.Ptr("{}"),
			Response: pgtest.Ptr(`{"status":"COMPLETED"}`), ReferenceNumber: &ref, ProcessName: pgtest.Ptr("p")}
	}
	ids := pgtest.Requests(t, db,
		done(1, "PAIR", "C1", "R1"),
		done(2, "UNPAIR", "C1", "R2"),
		done(3, "PAIR", "C2", "R1"), // a reference on two requests, another between them
		pgtest.RequestOpts{Number: 4, Type: "PAIR", State: "REJECTED", Smartcard: "C2", Request: pgtest.Ptr("{}"), Response: pgtest.Ptr(""),
			ErrorCode: pgtest.Ptr("E_MAX_ATTEMPTS"), ErrorDescription: pgtest.Ptr(""), ProcessName: pgtest.Ptr("p")},
		pgtest.RequestOpts{Number: 5, Type: "PAIR", Smartcard: "C3"},
		pgtest.RequestOpts{Number: 6, Type: "RESET_PIN", Smartcard: "C3"})
	id4 := ids[3]
	ctx := context.Background()
	cases := []struct {
		name  string
		f     Filter
		count int64
		want  []int64 // numbers
	}{
		{"all", Filter{}, 6, []int64{1, 2, 3, 4, 5, 6}},
		{"first page", Filter{Limit: 2}, 6, []int64{1, 2}},
		{"second page", Filter{Limit: 2, Offset: 2}, 6, []int64{3, 4}},
		{"past the end", Filter{Limit: 2, Offset: 6}, 6, nil},
		{"offset without limit", Filter{Offset: 4}, 6, []int64{5, 6}},
		{"type, paged", Filter{Types: []string{"PAIR"}, Limit: 2, Offset: 1}, 4, []int64{3, 4}},
		{"state and type", Filter{States: []string{"PENDING"}, Types: []string{"PAIR"}}, 1, []int64{5}},
		{"reference number", Filter{ReferenceNumber: "R2"}, 1, []int64{2}},
		{"reference number nobody has", Filter{ReferenceNumber: "R9"}, 0, nil},
		{"reference number on two requests", Filter{ReferenceNumber: "R1"}, 2, []int64{1, 3}},
		{"reference number and its card", Filter{ReferenceNumber: "R1", Smartcard: "C2"}, 1, []int64{3}},
		{"reference number and another card", Filter{ReferenceNumber: "R2", Smartcard: "C2"}, 0, nil},
		{"reference number, paged", Filter{ReferenceNumber: "R1", Limit: 1, Offset: 1}, 2, []int64{3}},
		{"id", Filter{ID: id4}, 1, []int64{4}},
		{"id and another number", Filter{ID: id4, Number: 5}, 0, nil},
	}
	for _, c := range cases {
		rows, err := List(ctx, db, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []int64
		for _, r := range rows {
			got = append(got, r.Number)
		}
		n, err := Count(ctx, db, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n != c.count || len(got) != len(c.want) {
			t.Errorf("%s: count %d, rows %v; want %d, %v", c.name, n, got, c.count, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: rows %v, want %v", c.name, got, c.want)
				break
			}
		}
	}

	rows, err := List(ctx, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	nulls := []Nulls{
		{ErrorCode: true, ErrorDescription: true}, {ErrorCode: true, ErrorDescription: true}, {ErrorCode: true, ErrorDescription: true},
		{ReferenceNumber: true},
		{true, true, true, true, true, true}, {true, true, true, true, true, true},
	}
	for i, r := range rows {
		if r.Null != nulls[i] {
			t.Errorf("request %d: Null %+v, want %+v", r.Number, r.Null, nulls[i])
		}
	}
	// The names are looked up unless NoNames says not to.
	if _, err := db.Exec(`INSERT INTO installed_items (kind, serial_number, ca_id) VALUES ('SMARTCARD', 'SER1', 'C1')`); err != nil {
		t.Fatal(err)
	}
	for _, noNames := range []bool{false, true} {
		rs, err := List(ctx, db, Filter{Number: 1, NoNames: noNames})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]string{false: "SER1", true: ""}[noNames]; len(rs) != 1 || rs[0].SmartcardSerial != want {
			t.Errorf("NoNames %v: %+v, want serial %q", noNames, rs, want)
		}
	}
	if r := rows[3]; r.Response != "" || r.ErrorDescription != "" || r.ErrorCode != "E_MAX_ATTEMPTS" || r.ProcessName != "p" {
		t.Errorf("request 4: %+v", r)
	}
}

// TestCountUpToAndAfter: the capped count stops at its cap, and After pages by
// number (the console's Requests page).
func TestCountUpToAndAfter(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	var opts []pgtest.RequestOpts
	for i := 0; i < 7; i++ {
		opts = append(opts, pgtest.RequestOpts{Smartcard: fmt.Sprintf("K%d", i)})
	}
	nums := pgtest.Requests(t, db, opts...)
	for _, c := range []struct {
		f         Filter
		max, want int64
	}{
		{Filter{}, 10, 7}, {Filter{}, 7, 7}, {Filter{}, 5, 6}, {Filter{States: []string{"REJECTED"}}, 5, 0},
		{Filter{After: nums[4]}, 10, 2},
	} {
		if n, err := CountUpTo(ctx, db, c.f, c.max); err != nil || n != c.want {
			t.Errorf("CountUpTo(%+v, %d) = %d, %v; want %d", c.f.Given(), c.max, n, err, c.want)
		}
	}
	rows, err := List(ctx, db, Filter{After: nums[2], Limit: 2})
	if err != nil || len(rows) != 2 || rows[0].Number != nums[3] || rows[1].Number != nums[4] {
		t.Errorf("After %d, Limit 2: %v, %v", nums[2], rows, err)
	}
}
