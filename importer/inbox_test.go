package importer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/store"
)

const goodRow = "add_services,S1001,SC0000000001,,,SPORTS,,,,,\n"

// TestInboxPicksUp: only settled, visible, regular *.csv files are taken; what may
// still be being written is left exactly where it is.
func TestInboxPicksUp(t *testing.T) {
	db := setup(t)
	im, _ := newImporter(t, db, importer.Options{})
	inbox := t.TempDir()
	writeFile(t, inbox, "ready.csv", header+goodRow)
	writeFile(t, inbox, "UPPER.CSV", header+"add_services,S1002,SC0000000002,,,KIDS,,,,,\n")
	writeFile(t, inbox, ".hidden.csv", header+goodRow)
	writeFile(t, inbox, "copying.csv.tmp", header+goodRow)
	writeFile(t, inbox, "copying.csv.part", header+goodRow)
	writeFile(t, inbox, "notes.txt", "not an instruction file")
	if err := os.Mkdir(filepath.Join(inbox, "folder.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Written just now: it may still be growing.
	if err := os.WriteFile(filepath.Join(inbox, "fresh.csv"), []byte(header+goodRow), 0o644); err != nil {
		t.Fatal(err)
	}

	results, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range results {
		names = append(names, unstamp(r.Name))
	}
	slices.Sort(names)
	if want := []string{"UPPER.TS.CSV", "ready.TS.csv"}; !slices.Equal(names, want) {
		t.Errorf("imported %v, want %v", names, want)
	}
	want := []string{".hidden.csv", "archive/UPPER.TS.CSV", "archive/ready.TS.csv", "copying.csv.part", "copying.csv.tmp", "fresh.csv", "notes.txt"}
	if got := tree(t, inbox); !slices.Equal(got, want) {
		t.Errorf("inbox:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Once it has settled, the fresh file is taken (settle 0: no wait).
	results, err = im.ImportInbox(context.Background(), inbox, 0)
	if err != nil || len(results) != 1 || unstamp(results[0].Name) != "fresh.TS.csv" {
		t.Fatalf("second run: %+v %v, want fresh.csv", results, err)
	}
}

// TestInboxNamesNeverClash: the same file name dropped twice (different content)
// gives two archived files, not one overwriting the other.
func TestInboxNamesNeverClash(t *testing.T) {
	db := setup(t)
	im, _ := newImporter(t, db, importer.Options{})
	inbox := t.TempDir()
	for _, row := range []string{goodRow, "add_services,S1002,SC0000000002,,,KIDS,,,,,\n"} {
		writeFile(t, inbox, "daily.csv", header+row)
		if _, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle); err != nil {
			t.Fatal(err)
		}
	}
	archived, _ := filepath.Glob(filepath.Join(inbox, "archive", "daily.*.csv"))
	if len(archived) != 2 {
		t.Errorf("archive holds %v, want two daily files", archived)
	}
	if n := count(t, db, "SELECT count(*) FROM provisioning_requests"); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestInboxLockedFileLeftAlone: a file in processing/ that a live importer holds (its
// lock) is not touched; once the holder is gone, the next run imports it.
func TestInboxLockedFileLeftAlone(t *testing.T) {
	db := setup(t)
	im, _ := newImporter(t, db, importer.Options{})
	inbox := t.TempDir()
	if err := os.MkdirAll(filepath.Join(inbox, importer.ProcessingDir), 0o755); err != nil {
		t.Fatal(err)
	}
	claimed := writeFile(t, filepath.Join(inbox, importer.ProcessingDir), "held.20261129T090000.000000Z.csv", header+goodRow)
	f, err := os.Open(claimed)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	results, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
	if err != nil || len(results) != 0 {
		t.Fatalf("results %+v, err %v: want the held file left alone", results, err)
	}
	if _, err := os.Stat(claimed); err != nil {
		t.Fatalf("the held file moved: %v", err)
	}
	f.Close() // the holder dies: the kernel drops its lock

	results, err = im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
	if err != nil || len(results) != 1 || results[0].State != importer.Imported || results[0].Created != 1 {
		t.Fatalf("after the holder died: %+v %v", results, err)
	}
	if got := tree(t, inbox); !slices.Equal(got, []string{"archive/held.TS.csv"}) {
		t.Errorf("inbox: %v", got)
	}
}

// TestAtomicity: a database failure in the middle of a file leaves nothing of it (no
// request, no import record, no rejects file) and the file in processing/; the next
// run imports it whole from there.
func TestAtomicity(t *testing.T) {
	db := setup(t)
	im, logs := newImporter(t, db, importer.Options{ChunkSize: 100})
	inbox := t.TempDir()
	var b strings.Builder
	b.WriteString(header)
	for i := 0; i < 3000; i++ {
		if i%500 == 7 {
			b.WriteString("add_services,S1001,SC0000000001,,,SPORTZ,,,,,\n") // a reject, so a rejects file is begun
			continue
		}
		fmt.Fprintf(&b, "add_services,S1001,SC0000000001,,,SPORTS,,,,,R-%d\n", i)
	}
	writeFile(t, inbox, "big.csv", b.String())

	// A real database error at the 2,000th row: a trigger that raises.
	mustExec(t, db, `CREATE FUNCTION fail_mid_file() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN RAISE EXCEPTION 'disk full (simulated)'; END$$`)
	mustExec(t, db, `CREATE TRIGGER fail_mid_file BEFORE INSERT ON provisioning_requests
		FOR EACH ROW WHEN (NEW.source_line = 2000) EXECUTE FUNCTION fail_mid_file()`)

	_, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
	if err == nil || !strings.Contains(err.Error(), "disk full (simulated)") {
		t.Fatalf("error %v, want the database's", err)
	}
	for _, table := range []string{"provisioning_requests", "import_files"} {
		if n := count(t, db, "SELECT count(*) FROM "+table); n != 0 {
			t.Errorf("%d rows in %s after a failed import", n, table)
		}
	}
	if got := tree(t, inbox); !slices.Equal(got, []string{"processing/big.TS.csv"}) {
		t.Errorf("inbox after the failure: %v, want the file left in processing/ and no rejects", got)
	}
	if !strings.Contains(logs.String(), "stays in processing/") {
		t.Errorf("the failure was not logged:\n%s", logs.String())
	}

	mustExec(t, db, "DROP TRIGGER fail_mid_file ON provisioning_requests")
	results, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
	if err != nil || len(results) != 1 {
		t.Fatalf("re-run: %+v %v", results, err)
	}
	if r := results[0]; r.State != importer.Imported || r.Rows != 3000 || r.Created != 2994 || r.Rejected != 6 {
		t.Errorf("re-run: %s rows=%d created=%d rejected=%d, want all 3000 rows", r.State, r.Rows, r.Created, r.Rejected)
	}
	if n := count(t, db, "SELECT count(*) FROM provisioning_requests"); n != 2994 {
		t.Errorf("%d requests, want 2994", n)
	}
	// Sending order is file order, also across chunks.
	if n := count(t, db, `SELECT count(*) FROM (SELECT source_line, lag(source_line) OVER (ORDER BY sequence_number) AS prev
		FROM provisioning_requests) s WHERE prev >= source_line`); n != 0 {
		t.Errorf("%d requests out of file order", n)
	}
	if got := tree(t, inbox); !slices.Equal(got, []string{"archive/big.TS.csv", "rejects/big.TS.rejects.csv"}) {
		t.Errorf("inbox after the re-run: %v", got)
	}
}

// TestRecoveredAfterCommit: a run that died after its commit but before moving the
// file on left it in processing/ with its rejects under a temporary name; the next
// run sees that it was imported (not a duplicate of itself) and finishes the moves.
func TestRecoveredAfterCommit(t *testing.T) {
	db := setup(t)
	im, _ := newImporter(t, db, importer.Options{})
	inbox := t.TempDir()
	writeFile(t, inbox, "x.csv", header+goodRow+"add_services,S1001,SC0000000001,,,SPORTZ,,,,,\n")
	results, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
	if err != nil || len(results) != 1 {
		t.Fatal(results, err)
	}
	// Put things back as the crash would have left them.
	archived, rejects := results[0].Path, results[0].Rejects
	claimed := filepath.Join(inbox, importer.ProcessingDir, filepath.Base(archived))
	if err := os.Rename(archived, claimed); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(rejects, rejects+".tmp"); err != nil {
		t.Fatal(err)
	}
	results, err = im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
	if err != nil || len(results) != 1 || results[0].State != importer.Recovered {
		t.Fatalf("recovery: %+v %v, want RECOVERED", results, err)
	}
	// The counts of the import that committed: 2 rows, 1 created, 1 rejected.
	if r := results[0]; r.Rows != 2 || r.Created != 1 || r.Rejected != 1 {
		t.Errorf("recovered file reports %d rows, %d created, %d rejected; want 2, 1, 1", r.Rows, r.Created, r.Rejected)
	}
	if r := jobs.ImportResult(results); r.Rejected != 1 {
		t.Errorf("the run counts %d rejects (exit 3 when > 0); want 1", r.Rejected)
	}
	if n := count(t, db, "SELECT count(*) FROM provisioning_requests"); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if n := count(t, db, "SELECT count(*) FROM import_files"); n != 1 {
		t.Errorf("%d import records, want 1 (no duplicate of itself)", n)
	}
	if got := tree(t, inbox); !slices.Equal(got, []string{"archive/x.TS.csv", "rejects/x.TS.rejects.csv"}) {
		t.Errorf("inbox: %v", got)
	}
}

// TestConcurrentImporters: importers racing on one inbox take each file once, and
// the same content under two names is imported once.
func TestConcurrentImporters(t *testing.T) {
	db := setup(t)
	inbox := t.TempDir()
	for i := 0; i < 12; i++ {
		var b strings.Builder
		b.WriteString(header)
		for j := 0; j < 200; j++ {
			fmt.Fprintf(&b, "add_services,S1001,SC0000000001,,,SPORTS,,,,,F%d-%d\n", i, j)
		}
		writeFile(t, inbox, fmt.Sprintf("f%02d.csv", i), b.String())
	}
	writeFile(t, inbox, "copy-a.csv", header+goodRow)
	writeFile(t, inbox, "copy-b.csv", header+goodRow)

	var wg sync.WaitGroup
	all := make([][]importer.Result, 4)
	errs := make([]error, 4)
	for k := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			im, _ := newImporter(t, db, importer.Options{ChunkSize: 50})
			all[k], errs[k] = im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
		}()
	}
	wg.Wait()
	states := map[importer.State]int{}
	seen := map[string]bool{}
	for k := range all {
		if errs[k] != nil {
			t.Fatalf("importer %d: %v", k, errs[k])
		}
		for _, r := range all[k] {
			if seen[r.Name] {
				t.Errorf("%s handled twice", r.Name)
			}
			seen[r.Name] = true
			states[r.State]++
		}
	}
	if states[importer.Imported] != 13 || states[importer.Duplicate] != 1 {
		t.Errorf("states %v, want 13 IMPORTED and 1 DUPLICATE", states)
	}
	if n := count(t, db, "SELECT count(*) FROM provisioning_requests"); n != 12*200+1 {
		t.Errorf("%d requests, want %d", n, 12*200+1)
	}
	left, _ := os.ReadDir(inbox)
	for _, e := range left {
		if !e.IsDir() {
			t.Errorf("%s left in the inbox", e.Name())
		}
	}
}

// TestCancelledRun: a run cancelled (SIGTERM) mid-file rolls the file back and leaves
// it in processing/ for the next run.
func TestCancelledRun(t *testing.T) {
	db := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once a third of the file has been read: mid-file, whatever the speed.
	cancelling := func(_ string, size int64, r io.Reader) (io.Reader, func()) {
		return &cancelAfter{r: r, n: size / 3, cancel: cancel}, func() {}
	}
	im, _ := newImporter(t, db, importer.Options{ChunkSize: 10, Progress: cancelling})
	inbox := t.TempDir()
	var b strings.Builder
	b.WriteString(header)
	for i := 0; i < 20000; i++ {
		b.WriteString(goodRow)
	}
	writeFile(t, inbox, "long.csv", b.String())
	if _, err := im.ImportInbox(ctx, inbox, importer.DefaultSettle); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if n := count(t, db, "SELECT count(*) FROM provisioning_requests"); n != 0 {
		t.Errorf("%d requests after a cancelled import", n)
	}
	if got := tree(t, inbox); !slices.Equal(got, []string{"processing/long.TS.csv"}) {
		t.Errorf("inbox: %v", got)
	}
	im, _ = newImporter(t, db, importer.Options{})
	results, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
	if err != nil || len(results) != 1 || results[0].Created != 20000 {
		t.Fatalf("next run: %+v %v", results, err)
	}
}

// cancelAfter calls cancel once n bytes have been read through it.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= int64(n); c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func mustExec(t *testing.T, db *store.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
