package historybench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/samplegen"
	"github.com/provisioner/provisioner/reference"
)

// TestFillLeavesNoRoomForImports: an import after the fill lands after the history,
// as in a table grown by imports and runs, not one request on each page of it (a
// fresh fill at the table's own fillfactor left 60% of its pages with room above the
// reserve for one imported request, and an import of 200,000 rows wrote to 196,534
// pages of a 10M history: see historyPacking). For the migrated fillfactor and
// another, which the fill must restore.
func TestFillLeavesNoRoomForImports(t *testing.T) {
	const cards, history, imported = 300, 20_000, 3_000
	tests := []struct {
		name       string
		fillfactor int // 0: the schema's own (70)
	}{
		{"migrated fillfactor", 0},
		{"fillfactor 85", 85},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, _ := pgtest.New(t)
			dir := t.TempDir()
			if _, err := samplegen.WriteReference(filepath.Join(dir, "ref"), samplegen.Config{Subscriptions: cards}); err != nil {
				t.Fatal(err)
			}
			if _, err := reference.Load(ctx, db, filepath.Join(dir, "ref")); err != nil {
				t.Fatal(err)
			}
			if tc.fillfactor > 0 {
				if _, err := db.ExecContext(ctx, fmt.Sprintf("ALTER TABLE provisioning_requests SET (fillfactor = %d)", tc.fillfactor)); err != nil {
					t.Fatal(err)
				}
			}
			var before []string
			if err := db.SelectContext(ctx, &before, `SELECT unnest(reloptions) FROM pg_class WHERE oid = 'provisioning_requests'::regclass`); err != nil {
				t.Fatal(err)
			}
			if err := fill(ctx, db.DB.DB, history, 90, cards, func(string, ...any) {}); err != nil {
				t.Fatal(err)
			}
			var after []string
			if err := db.SelectContext(ctx, &after, `SELECT unnest(reloptions) FROM pg_class WHERE oid = 'provisioning_requests'::regclass`); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("the fill left the requests' options %v, want them as before it, %v", after, before)
			}

			file := filepath.Join(dir, "file.csv")
			out, err := os.Create(file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := samplegen.WriteInstructions(out, samplegen.Config{Rows: imported, Seed: 7, Subscriptions: cards}); err != nil {
				t.Fatal(err)
			}
			if err := out.Close(); err != nil {
				t.Fatal(err)
			}
			log := logrus.New()
			log.SetOutput(io.Discard)
			res, err := importer.New(db, log, importer.Options{}).ImportFile(ctx, file, dir)
			if err != nil || res.Created == 0 {
				t.Fatalf("import: %+v, %v", res, err)
			}

			// The imported requests on a page that holds history, but for the history's
			// last page, where the fill stopped: a table's last page has room.
			var mixed, created int
			if err := db.QueryRowContext(ctx, `
				WITH p AS (SELECT (ctid::text::point)[0] AS page, life_cycle_state = 'PENDING' AS imported
				           FROM provisioning_requests),
				     h AS (SELECT DISTINCT page FROM p WHERE NOT imported)
				SELECT count(*) FILTER (WHERE imported AND page IN (SELECT page FROM h)
				                                      AND page < (SELECT max(page) FROM h)),
				       count(*) FILTER (WHERE imported)
				FROM p`).Scan(&mixed, &created); err != nil {
				t.Fatal(err)
			}
			if created != res.Created {
				t.Fatalf("%d imported requests in the table, want %d", created, res.Created)
			}
			if mixed > 0 {
				t.Errorf("%d of %d imported requests went onto pages of the history: the fill left room above the reserve", mixed, created)
			}
		})
	}
}
