package importer_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/testutil"
	"github.com/provisioner/provisioner/reference"
	"github.com/provisioner/provisioner/store"
)

// header is the full instruction header, for tests that write rows by hand.
const header = "action,subscription_number,smartcard_serial_number,smartcard_ca_id,stb_serial_number,services,pin,priority,scheduled_date,process_immediately,reference\n"

// fixedNow is the clock of every test importer: rows without a scheduled_date get it.
var fixedNow = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

// setup returns a database loaded with the sample reference data.
func setup(t *testing.T) *store.DB {
	t.Helper()
	db, _ := pgtest.New(t)
	res, err := reference.Load(context.Background(), db, filepath.Join("..", "samples", "reference"))
	if err != nil {
		t.Fatalf("load reference: %v", err)
	}
	for _, r := range res {
		if !r.Loaded {
			t.Fatalf("reference %s not loaded: %v", r.File, r.Bad)
		}
	}
	return db
}

func newImporter(t *testing.T, db *store.DB, opts importer.Options) (*importer.Importer, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	log := logrus.New()
	log.SetOutput(logs)
	log.SetFormatter(&logrus.JSONFormatter{})
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixedNow }
	}
	return importer.New(db, log, opts), logs
}

// writeFile writes content to dir/name with a modification time old enough for the
// inbox to pick it up.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	return path
}

// tree lists the files under dir (relative paths, sorted), with the claim timestamps
// replaced by TS so that listings can be compared.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, unstamp(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// unstamp replaces a claim timestamp (.20261129T101500.123456Z) with .TS.
func unstamp(name string) string { return stampRE.ReplaceAllString(name, ".TS") }

var stampRE = regexp.MustCompile(`\.\d{8}T\d{6}\.\d{6}Z`)

func count(t *testing.T, db *store.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Get(&n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) { testutil.Golden(t, name, got) }

func readAll(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var _ = io.Discard
