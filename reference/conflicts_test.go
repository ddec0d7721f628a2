package reference_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/reference"
)

// TestUniqueValues: a CA id or alternative code used twice in a file, or taken from
// another stored item or product, and a serial number of the other kind, are bad rows
// with their lines, not a database error that stops the load.
func TestUniqueValues(t *testing.T) {
	ctx := context.Background()
	db, _ := pgtest.New(t)
	if _, err := reference.Load(ctx, db, filepath.Join("..", "samples", "reference")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dir  string
		want []reference.RowError
	}{
		{"duplicate_unique", []reference.RowError{
			{File: "smartcards.csv", Line: 3, Reason: "alternative_code ALT-1 is also on line 2"},
			{File: "smartcards.csv", Line: 4, Reason: "ca_id 9001 is also on line 2"},
			{File: "products.csv", Line: 3, Reason: "ca_id P-9 is also on line 2"},
		}},
		{"clash_with_stored", []reference.RowError{
			{File: "smartcards.csv", Line: 2, Reason: "ca_id: 1000000001 belongs to SC0000000001"},
			{File: "smartcards.csv", Line: 3, Reason: "alternative_code: ALT-SC-2 belongs to SC0000000002"},
			{File: "stbs.csv", Line: 2, Reason: "serial_number: SC0000000002 is stored as SMARTCARD, not STB"},
			{File: "products.csv", Line: 2, Reason: "ca_id: P-1001 belongs to product SPORTS"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			results, err := reference.Load(ctx, db, filepath.Join("testdata", tc.dir))
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			var got []reference.RowError
			for _, r := range results {
				if r.Loaded {
					t.Errorf("%s loaded despite bad rows", r.File)
				}
				got = append(got, r.Bad...)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("bad rows:\n%v\nwant:\n%v", got, tc.want)
			}
		})
	}
	var n int
	if err := db.Get(&n, "SELECT count(*) FROM installed_items WHERE serial_number LIKE 'SC-%'"); err != nil || n != 0 {
		t.Errorf("%d items of refused files were stored (%v)", n, err)
	}
}

// TestOptionalColumnLeftOut: a file without alternative_code or subscription_number
// updates what it gives and keeps what is stored for what it leaves out.
func TestOptionalColumnLeftOut(t *testing.T) {
	ctx := context.Background()
	db, _ := pgtest.New(t)
	if _, err := reference.Load(ctx, db, filepath.Join("..", "samples", "reference")); err != nil {
		t.Fatal(err)
	}
	results, err := reference.Load(ctx, db, filepath.Join("testdata", "without_optional_columns"))
	if err != nil || len(results) != 1 || !results[0].Loaded {
		t.Fatalf("load: %+v %v", results, err)
	}
	var got []struct {
		Serial string `db:"serial_number"`
		Alt    string `db:"alt"`
		CAID   string `db:"ca_id"`
		Sub    string `db:"sub"`
	}
	err = db.Select(&got, `SELECT serial_number, coalesce(alternative_code, '') AS alt, ca_id, coalesce(s.number, '') AS sub
		FROM installed_items i LEFT JOIN subscriptions s ON s.id = i.subscription_id
		WHERE serial_number IN ('SC0000000001', 'SC0000000002') ORDER BY serial_number`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Alt != "ALT-SC-1" || got[0].Sub != "S1001" || got[1].Alt != "ALT-SC-2" || got[1].Sub != "S1002" || got[1].CAID != "1000000202" {
		t.Errorf("after a load without the optional columns: %+v", got)
	}
}
