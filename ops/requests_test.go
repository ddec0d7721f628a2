package ops

import (
	"context"
	"testing"

	"github.com/provisioner/provisioner/internal/pgtest"
)

// TestListPagingAndNulls: on known requests, Count is what List returns without its
// limit and offset, paging takes the right slice in number order, ID and
// ReferenceNumber select exactly, a NULL text is told from ”, and NoNames leaves
// the names out.
func TestListPagingAndNulls(t *testing.T) {
	db, _ := pgtest.New(t)
	// Six requests: 1-3 COMPLETED with references, 4 REJECTED after a send without an
	// answer (response and error description ''), 5-6 PENDING, never sent (NULLs).
	if _, err := db.Exec(`INSERT INTO provisioning_requests
		(number, type, life_cycle_state, smartcard_ca_id, request, response, reference_number, error_code, error_description, process_name) VALUES
		(1, 'PAIR', 'COMPLETED', 'C1', '{}', '{"status":"COMPLETED"}', 'R1', NULL, NULL, 'p'),
		(2, 'UNPAIR', 'COMPLETED', 'C1', '{}', '{"status":"COMPLETED"}', 'R2', NULL, NULL, 'p'),
		(3, 'PAIR', 'COMPLETED', 'C2', '{}', '{"status":"COMPLETED"}', 'R3', NULL, NULL, 'p'),
		(4, 'PAIR', 'REJECTED', 'C2', '{}', '', NULL, 'E_MAX_ATTEMPTS', '', 'p'),
		(5, 'PAIR', 'PENDING', 'C3', NULL, NULL, NULL, NULL, NULL, NULL),
		(6, 'RESET_PIN', 'PENDING', 'C3', NULL, NULL, NULL, NULL, NULL, NULL)`); err != nil {
		t.Fatal(err)
	}
	var id4 int64
	if err := db.Get(&id4, `SELECT id FROM provisioning_requests WHERE number = 4`); err != nil {
		t.Fatal(err)
	}
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
