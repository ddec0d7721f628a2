package samplegen_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/samplegen"
	"github.com/provisioner/provisioner/provisioning"
	"github.com/provisioner/provisioner/reference"
)

// TestGeneratedFileImportsWhole is the generator's contract: against its own
// reference data, the importer accepts every row, and every action is there.
func TestGeneratedFileImportsWhole(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const rows = 2000
	st, err := samplegen.Generate(dir, samplegen.Config{Rows: rows, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != rows {
		t.Fatalf("generated %d rows, want %d", st.Rows, rows)
	}

	db, _ := pgtest.New(t)
	loaded, err := reference.Load(ctx, db, filepath.Join(dir, samplegen.ReferenceDir))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		reference.SubscriptionsFile: st.Subscriptions, reference.SmartcardsFile: st.Smartcards,
		reference.STBsFile: st.STBs, reference.ProductsFile: st.Products,
	}
	for _, r := range loaded {
		if !r.Loaded || r.Rows != want[r.File] {
			t.Errorf("reference %s: loaded %v, %d rows (want %d), bad rows %v", r.File, r.Loaded, r.Rows, want[r.File], r.Bad)
		}
		delete(want, r.File)
	}
	if len(want) > 0 {
		t.Errorf("reference files not loaded: %v", want)
	}

	log := logrus.New()
	log.SetOutput(io.Discard)
	res, err := importer.New(db, log, importer.Options{}).ImportFile(ctx, filepath.Join(dir, samplegen.InstructionsFile), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if res.State != importer.Imported || res.Rows != rows || res.Created != rows || res.Rejected != 0 {
		rejects, _ := os.ReadFile(res.Rejects)
		t.Fatalf("import: state %s, %d rows, %d created, %d rejected, want all %d created; rejects:\n%.2000s",
			res.State, res.Rows, res.Created, res.Rejected, rows, rejects)
	}

	var byType []struct {
		Type string `db:"type"`
		N    int    `db:"n"`
	}
	if err := db.SelectContext(ctx, &byType, `SELECT type, count(*) AS n FROM provisioning_requests GROUP BY type`); err != nil {
		t.Fatal(err)
	}
	got := map[provisioning.Type]int{}
	for _, r := range byType {
		got[provisioning.Type(r.Type)] = r.N
	}
	for _, typ := range provisioning.Types {
		if got[typ] == 0 || got[typ] != st.Types[typ] {
			t.Errorf("%s: %d requests, generated %d (want > 0 and equal)", typ, got[typ], st.Types[typ])
		}
	}

	var express, refs, known, immediate, services int
	if err := db.QueryRowContext(ctx, `
		SELECT count(*) FILTER (WHERE priority = 'EXPRESS'),
		       count(reference),
		       count(*) FILTER (WHERE process_immediately),
		       count(*) FILTER (WHERE service_ca_ids IS NOT NULL),
		       (SELECT count(*) FROM provisioning_requests r JOIN installed_items i ON i.ca_id = r.smartcard_ca_id
		        WHERE i.kind = 'SMARTCARD')
		FROM provisioning_requests`).Scan(&express, &refs, &immediate, &services, &known); err != nil {
		t.Fatal(err)
	}
	if express == 0 || express != st.Express || refs == 0 || refs != st.References || immediate != st.ProcessImmediately {
		t.Errorf("EXPRESS %d (generated %d), references %d (%d), process_immediately %d (%d): want equal and not zero",
			express, st.Express, refs, st.References, immediate, st.ProcessImmediately)
	}
	if services != st.Types[provisioning.AddProducts]+st.Types[provisioning.CancelProducts] {
		t.Errorf("%d requests with services, want one per add/cancel row", services)
	}
	if known != rows {
		t.Errorf("%d requests name a known smartcard CA id, want %d", known, rows)
	}
	if st.Scheduled == 0 || st.ByCAID == 0 {
		t.Errorf("generated %d scheduled rows and %d by CA id: want some of each", st.Scheduled, st.ByCAID)
	}
}

// TestDeterministic: the seed alone decides the output.
func TestDeterministic(t *testing.T) {
	gen := func(seed uint64) [32]byte {
		var b bytes.Buffer
		if _, err := samplegen.WriteInstructions(&b, samplegen.Config{Rows: 5000, Seed: seed}); err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b.Bytes())
	}
	if gen(3) != gen(3) {
		t.Error("same seed, different output")
	}
	if gen(3) == gen(4) {
		t.Error("different seeds, same output")
	}
}
