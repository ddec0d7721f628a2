package reference_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/testutil"
	"github.com/provisioner/provisioner/reference"
	"github.com/provisioner/provisioner/store"
)

// dumpEntitlements renders the entitlements table by serial numbers and codes.
func dumpEntitlements(t *testing.T, db *store.DB) string {
	t.Helper()
	var rows []struct {
		Card     string `db:"card"`
		Services string `db:"services"`
		STB      string `db:"stb"`
		Checked  bool   `db:"stb_checked"`
	}
	if err := db.Select(&rows, `
		SELECT i.serial_number AS card,
		       coalesce((SELECT string_agg(p.code, ';' ORDER BY p.code) FROM products p WHERE p.id = ANY (e.product_ids)), '') AS services,
		       coalesce(stb.serial_number, '-') AS stb, e.stb_checked
		FROM entitlements e JOIN installed_items i ON i.id = e.smartcard_id
		LEFT JOIN installed_items stb ON stb.id = e.stb_id ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  entitlement %s services=%q stb=%s stb_checked=%v\n", r.Card, r.Services, r.STB, r.Checked)
	}
	return b.String()
}

// TestEntitlements: entitlements.csv is checked as the other reference files (every
// bad row named with its line; a file with one loads nothing), and it replaces the
// stored entitlements: a card it no longer lists is no longer reconciled. Without the
// stb_serial_number column, pairings are not checked.
func TestEntitlements(t *testing.T) {
	t.Parallel()
	db, _ := pgtest.New(t)
	ctx := context.Background()
	var out strings.Builder
	for _, dir := range []string{"entitlements_good", "entitlements_bad", "entitlements_no_stb"} {
		res, err := reference.Load(ctx, db, filepath.Join("testdata", dir))
		fmt.Fprintf(&out, "== %s\n", dir)
		for _, r := range res {
			if r.File != reference.EntitlementsFile {
				continue
			}
			fmt.Fprintf(&out, "%s: loaded %v, good rows: %d\n", r.File, r.Loaded, r.Rows)
			for _, e := range r.Bad {
				fmt.Fprintf(&out, "  %v\n", e)
			}
		}
		if err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
		}
		out.WriteString(dumpEntitlements(t, db))
	}
	testutil.Golden(t, "entitlements.golden", []byte(out.String()))
}

// TestReadEntitled: the expected states in CA ids, as the simulator starts them.
func TestReadEntitled(t *testing.T) {
	t.Parallel()
	got, err := reference.ReadEntitled(filepath.Join("testdata", "entitlements_good"))
	if err != nil {
		t.Fatal(err)
	}
	want := "[{1000000001 [P-1001 P-1002] 7700000001} {1000000002 [] } {1000000007 [P-1003] }]"
	if s := fmt.Sprint(got); s != want {
		t.Errorf("got %s, want %s", s, want)
	}
	if _, err := reference.ReadEntitled(filepath.Join("testdata", "entitlements_bad")); err == nil {
		t.Error("bad entitlements read without an error")
	}
	if got, err := reference.ReadEntitled("testdata/missing_value"); got != nil || err != nil {
		t.Errorf("no entitlements.csv: %v %v", got, err)
	}
}
