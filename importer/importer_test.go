package importer_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/internal/pgtest"
)

// TestSamples imports the bundled samples through the inbox: the rejects files are
// exactly the golden ones (one row per kind of reject), the requests are exactly the
// golden ones, and dropping the same files again creates nothing.
func TestSamples(t *testing.T) {
	db := setup(t)
	im, _ := newImporter(t, db, importer.Options{})
	inbox := t.TempDir()
	samples, _ := filepath.Glob(filepath.Join("..", "samples", "inbox", "*.csv"))
	if len(samples) != 2 {
		t.Fatalf("samples/inbox: %d files, want 2", len(samples))
	}
	drop := func() {
		for _, s := range samples {
			writeFile(t, inbox, filepath.Base(s), readAll(t, s))
		}
	}
	drop()
	results, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][3]int{ // rows, created, rejected
		"2026-11-29-bulk.TS.csv":    {28, 8, 20},
		"2026-11-29-express.TS.csv": {3, 2, 1},
	}
	if len(results) != len(want) {
		t.Fatalf("%d results, want %d", len(results), len(want))
	}
	for _, r := range results {
		w, ok := want[unstamp(r.Name)]
		if !ok || r.State != importer.Imported || [3]int{r.Rows, r.Created, r.Rejected} != w {
			t.Errorf("%s: %s rows=%d created=%d rejected=%d, want IMPORTED %v", r.Name, r.State, r.Rows, r.Created, r.Rejected, w)
		}
		golden(t, "samples/"+strings.TrimSuffix(unstamp(r.Name), ".TS.csv")+".rejects.csv", []byte(readAll(t, r.Rejects)))
	}

	var got bytes.Buffer
	rows, err := db.Query(`SELECT r.number, type, life_cycle_state, priority, sequence_number,
	        to_char(scheduled_date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), process_immediately,
	        coalesce(s.number, ''), smartcard_ca_id, coalesce(array_to_string(service_ca_ids, ';'), ''), coalesce(stb_ca_id, ''),
	        coalesce(pin, ''), coalesce(reference, ''), f.name, source_line
	    FROM provisioning_requests r LEFT JOIN subscriptions s ON s.id = r.subscription_id JOIN import_files f ON f.id = r.source_file_id
	    ORDER BY sequence_number`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v [15]any
		ptrs := make([]any, len(v))
		for i := range v {
			ptrs[i] = &v[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		v[13] = unstamp(v[13].(string))
		fmt.Fprintln(&got, v[:]...)
	}
	golden(t, "samples/requests.txt", got.Bytes())

	drop()
	again, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again {
		if r.State != importer.Duplicate || r.Created != 0 || r.DuplicateOf == 0 {
			t.Errorf("second drop of %s: %s created=%d duplicate_of=%d, want DUPLICATE of an earlier import", r.Name, r.State, r.Created, r.DuplicateOf)
		}
	}
	if n := count(t, db, "SELECT count(*) FROM provisioning_requests"); n != 10 {
		t.Errorf("%d requests after the second drop, want 10", n)
	}
	if n := count(t, db, "SELECT count(*) FROM import_files WHERE state = 'DUPLICATE'"); n != 2 {
		t.Errorf("%d duplicate records, want 2", n)
	}
	wantTree := []string{
		"archive/2026-11-29-bulk.TS.csv", "archive/2026-11-29-bulk.TS.csv",
		"archive/2026-11-29-express.TS.csv", "archive/2026-11-29-express.TS.csv",
		"rejects/2026-11-29-bulk.TS.rejects.csv", "rejects/2026-11-29-express.TS.rejects.csv",
	}
	if got := tree(t, inbox); !slices.Equal(got, wantTree) {
		t.Errorf("inbox after both drops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantTree, "\n"))
	}
}

// TestRefusedFiles: a file that cannot be read as a whole is refused with one reason,
// creates nothing, is recorded FAILED and moves to failed/ with its .error.txt.
func TestRefusedFiles(t *testing.T) {
	good := "add_services,S1001,SC0000000001,,,SPORTS,,,,,\n"
	tests := []struct {
		name, content, reason string
	}{
		{"utf16le.csv", "\xff\xfea\x00,\x00b\x00\n\x00", "UTF-16 LE"},
		{"utf16be.csv", "\xfe\xff\x00a\x00,\x00b\x00\n", "UTF-16 BE"},
		{"utf32le.csv", "\xff\xfe\x00\x00a\x00\x00\x00", "UTF-32 LE"},
		{"nul.csv", header + good + "add_services,S1001,SC0000000001,,,SP\x00ORTS,,,,,\n", "line 3: NUL byte"},
		{"invalid-utf8.csv", header + good + "add_services,S1001,SC0000000001,,,SP\xc3\x28RTS,,,,,\n", "line 3: invalid UTF-8"},
		{"latin1.csv", header + "add_services,S1001,SC0000000001,,,CAF\xc9,,,,,\n", "line 2: invalid UTF-8"},
		{"no-action.csv", "subscription_number,smartcard_serial_number,services\nS1001,SC0000000001,SPORTS\n", `no "action" column`},
		{"typo.csv", "action,subscription_number,smartcard_serial,services\nadd_services,S1001,SC0000000001,SPORTS\n", `unknown column "smartcard_serial" (did you mean "smartcard_serial_number"?)`},
		{"unknown-column.csv", "action,subscription_number,smartcard_serial_number,services,colour\n", `unknown column "colour"`},
		{"unterminated.csv", header + good + "add_services,S1001,SC0000000001,,,\"SPORTS,,,,,\n" + good, "line 3: unterminated quoted field"},
		{"empty.csv", "", "no header"},
		{"blank.csv", "\n\n  \n", "no header"},
		{"duplicate-column.csv", "action,pin,PIN\n", `duplicate column "pin"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := setup(t)
			im, _ := newImporter(t, db, importer.Options{})
			inbox := t.TempDir()
			writeFile(t, inbox, tc.name, tc.content)
			results, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != 1 {
				t.Fatalf("%d results, want 1", len(results))
			}
			r := results[0]
			if r.State != importer.Refused || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("state %s, reason %q; want FAILED with a reason containing %q", r.State, r.Reason, tc.reason)
			}
			if n := count(t, db, "SELECT count(*) FROM provisioning_requests"); n != 0 {
				t.Errorf("%d requests created from a refused file", n)
			}
			if n := count(t, db, "SELECT count(*) FROM import_files WHERE state = 'FAILED' AND error = $1", r.Reason); n != 1 {
				t.Errorf("%d FAILED import records with the reason, want 1", n)
			}
			stem := strings.TrimSuffix(tc.name, ".csv")
			want := []string{"failed/" + stem + ".TS.csv", "failed/" + stem + ".TS.csv.error.txt"}
			if got := tree(t, inbox); !slices.Equal(got, want) {
				t.Errorf("inbox: %v, want %v", got, want)
			}
			errFile, _ := filepath.Glob(filepath.Join(inbox, "failed", "*.error.txt"))
			if len(errFile) == 1 && readAll(t, errFile[0]) != r.Reason+"\n" {
				t.Errorf(".error.txt = %q, want the reason %q", readAll(t, errFile[0]), r.Reason)
			}
		})
	}
}

// TestAcceptedForms: what must be accepted as it is: a UTF-8 BOM, CRLF, columns in
// any order and case, a leading sep=, line, values with spaces around them, a missing
// final newline, trailing empty cells and empty rows left by spreadsheets.
func TestAcceptedForms(t *testing.T) {
	tests := []struct{ name, content string }{
		{"bom", "\ufeff" + header + "add_services,S1001,SC0000000001,,,SPORTS,,,,,\n"},
		{"crlf", strings.ReplaceAll(header+"add_services,S1001,SC0000000001,,,SPORTS,,,,,\n", "\n", "\r\n")},
		{"order-and-case", "Services, SMARTCARD_SERIAL_NUMBER ,Action,Subscription_Number\nSPORTS,SC0000000001,add_services,S1001\n"},
		{"sep-line", "sep=,\n" + header + "add_services,S1001,SC0000000001,,,SPORTS,,,,,\n"},
		{"spaces", header + " add_services , S1001 ,SC0000000001 ,,, SPORTS ; ,,,,,\n"},
		{"no-final-newline", header + "add_services,S1001,SC0000000001,,,SPORTS,,,,,"},
		{"spreadsheet-leftovers", strings.TrimSuffix(header, "\n") + ",,\nadd_services,S1001,SC0000000001,,,SPORTS,,,,,,,\n,,,,,,,,,,,,\n\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := setup(t)
			im, _ := newImporter(t, db, importer.Options{})
			path := writeFile(t, t.TempDir(), "f.csv", tc.content)
			r, err := im.ImportFile(context.Background(), path, "")
			if err != nil {
				t.Fatal(err)
			}
			if r.State != importer.Imported || r.Rows != 1 || r.Created != 1 || r.Rejected != 0 {
				t.Fatalf("%s rows=%d created=%d rejected=%d reason=%q, want 1 created", r.State, r.Rows, r.Created, r.Rejected, r.Reason)
			}
			var services string
			if err := db.Get(&services, "SELECT array_to_string(service_ca_ids, ';') FROM provisioning_requests"); err != nil || services != "P-1001" {
				t.Errorf("services %q (%v), want P-1001", services, err)
			}
		})
	}
}

// TestRejectLineNumbers: the line of a rejected row is its physical line, also after
// quoted fields that span lines, CRLF inside quotes, blank lines and rows spreadsheets
// leave empty.
func TestRejectLineNumbers(t *testing.T) {
	content := header + // line 1
		"add_services,S1001,SC0000000001,,,\"SPORTS;\nMOVIES\",,,,,\n" + // lines 2-3, good
		"add_services,S1001,SC0000000404,,,NEWS,,,,,\n" + // line 4, bad
		"\n" + // line 5, blank
		"add_services,S1001,SC0000000001,,,\"NEWS;\r\n\r\nKIDS;\nNEWS\",,,,,\n" + // lines 6-9, bad (NEWS twice)
		",,,,,,,,,,\n" + // line 10, empty cells
		"reset_pin,S1005,SC0000000005,,,,1234,,,,\n" + // line 11, bad (pin not taken)
		"reset_pin,S1005,SC0000000005,,\n" + // line 12, bad (field count)
		"set_pin,S1006,SC0000000006,,,,\"48\n21\",,,,\n" // lines 13-14, bad (pin with a newline)
	db := setup(t)
	im, _ := newImporter(t, db, importer.Options{})
	dir := t.TempDir()
	path := writeFile(t, dir, "lines.csv", content)
	r, err := im.ImportFile(context.Background(), path, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows != 6 || r.Created != 1 || r.Rejected != 5 {
		t.Fatalf("rows=%d created=%d rejected=%d, want 6/1/5", r.Rows, r.Created, r.Rejected)
	}
	golden(t, "lines.rejects.csv", []byte(readAll(t, r.Rejects)))
	var line int
	if err := db.Get(&line, "SELECT source_line FROM provisioning_requests"); err != nil || line != 2 {
		t.Errorf("source_line %d (%v), want 2", line, err)
	}
}

// TestRejectsRoundTrip: a rejects file, fixed, dropped back in the inbox as it is,
// imports: its line and error columns are ignored, and its own rejects reuse them.
func TestRejectsRoundTrip(t *testing.T) {
	db := setup(t)
	im, _ := newImporter(t, db, importer.Options{})
	inbox := t.TempDir()
	writeFile(t, inbox, "batch.csv", header+
		"add_services,S1001,SC0000000001,,,SPORTS,,,,,\n"+
		"add_services,S1001,SC0000000001,,,SPORTZ,,,,,\n"+
		"set_pin,S1006,SC0000000006,,,,0000,,,,\n")
	first, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
	if err != nil || len(first) != 1 || first[0].Rejected != 2 {
		t.Fatalf("first import: %+v, %v", first, err)
	}
	rejects := readAll(t, first[0].Rejects)
	// The operator fixes one row and leaves the other as it was.
	fixed := strings.Replace(rejects, ",SPORTZ,", ",MOVIES,", 1)
	if fixed == rejects {
		t.Fatal("the rejects file does not hold the bad row as written")
	}
	writeFile(t, inbox, "batch.fixed.csv", fixed)
	second, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
	if err != nil || len(second) != 1 {
		t.Fatalf("second import: %+v, %v", second, err)
	}
	if r := second[0]; r.State != importer.Imported || r.Created != 1 || r.Rejected != 1 {
		t.Fatalf("second import: %s created=%d rejected=%d, want 1 created, 1 rejected", r.State, r.Created, r.Rejected)
	}
	again := readAll(t, second[0].Rejects)
	wantHeader := strings.TrimSuffix(header, "\n") + ",line,error\n"
	if !strings.HasPrefix(again, wantHeader) || strings.Count(again, "line") != 1 {
		t.Errorf("rejects of the rejects file:\n%s\nwant the same columns, line and error once", again)
	}
	if !strings.Contains(again, ",3,pin: 0000 is the default PIN") {
		t.Errorf("rejects of the rejects file:\n%s\nwant the PIN row at its line in the fixed file (3)", again)
	}
	if n := count(t, db, "SELECT count(*) FROM provisioning_requests WHERE service_ca_ids = '{P-1002}'"); n != 1 {
		t.Errorf("the fixed row was not created")
	}
}

// TestDuplicateReferences: a reference used by a stored request, or by an earlier row
// of the same file, is a duplicate; a reference of a rejected row is not used.
func TestDuplicateReferences(t *testing.T) {
	db := setup(t)
	im, _ := newImporter(t, db, importer.Options{ChunkSize: 2}) // references cross chunks
	dir := t.TempDir()
	r1, err := im.ImportFile(context.Background(), writeFile(t, dir, "a.csv", header+
		"add_services,S1001,SC0000000001,,,SPORTS,,,,,REF-1\n"), "")
	if err != nil || r1.Created != 1 {
		t.Fatalf("%+v %v", r1, err)
	}
	r2, err := im.ImportFile(context.Background(), writeFile(t, dir, "b.csv", header+
		"add_services,S1002,SC0000000002,,,SPORTS,,,,,REF-1\n"+ // used by a.csv
		"add_services,S1002,SC0000000002,,,NOPE,,,,,REF-2\n"+ // rejected: REF-2 stays free
		"add_services,S1002,SC0000000002,,,KIDS,,,,,REF-2\n"+
		"add_services,S1003,SC0000000003,,,KIDS,,,,,REF-3\n"+
		"add_services,S1003,SC0000000003,,,NEWS,,,,,REF-3\n"), "") // used two rows up
	if err != nil {
		t.Fatal(err)
	}
	if r2.Created != 2 || r2.Rejected != 3 {
		t.Fatalf("created=%d rejected=%d, want 2 and 3", r2.Created, r2.Rejected)
	}
	rej := readAll(t, r2.Rejects)
	for _, want := range []string{",REF-1,2,reference: reference REF-1 is already used", ",REF-2,3,services: no service NOPE", ",REF-3,6,reference: reference REF-3 is already used"} {
		if !strings.Contains(rej, want) {
			t.Errorf("rejects lack %q:\n%s", want, rej)
		}
	}
}

// TestDryRun: every row is checked and the rejects printed; nothing is written, no
// file moves.
func TestDryRun(t *testing.T) {
	db := setup(t)
	var out bytes.Buffer
	im, _ := newImporter(t, db, importer.Options{DryRun: true, RejectsOut: &out})
	inbox := t.TempDir()
	writeFile(t, inbox, "x.csv", header+
		"add_services,S1001,SC0000000001,,,SPORTS,,,,,\n"+
		"add_services,S1001,SC0000000001,,,SPORTZ,,,,,\n")
	results, err := im.ImportInbox(context.Background(), inbox, importer.DefaultSettle)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].State != importer.Validated || results[0].Created != 1 || results[0].Rejected != 1 {
		t.Fatalf("%+v", results)
	}
	if !strings.Contains(out.String(), ",SPORTZ,,,,,,3,services: no service SPORTZ (E_UNKNOWN_SERVICE)") {
		t.Errorf("printed rejects:\n%s", out.String())
	}
	for _, table := range []string{"provisioning_requests", "import_files"} {
		if n := count(t, db, "SELECT count(*) FROM "+table); n != 0 {
			t.Errorf("%d rows in %s after a dry run", n, table)
		}
	}
	if got := tree(t, inbox); !slices.Equal(got, []string{"x.csv"}) {
		t.Errorf("inbox after a dry run: %v, want only x.csv where it was", got)
	}
}

// TestSchemaCheckedFirst: the importer's commands refuse a database without the
// schema; see cli tests. Here: a named file that does not exist is an error naming it.
func TestMissingFile(t *testing.T) {
	db := setup(t)
	im, _ := newImporter(t, db, importer.Options{})
	_, err := im.ImportFile(context.Background(), filepath.Join(t.TempDir(), "nope.csv"), "")
	if err == nil || !strings.Contains(err.Error(), "nope.csv") {
		t.Errorf("error %v, want one naming nope.csv", err)
	}
	if _, err := os.Stat("nope.csv.rejects.csv"); err == nil {
		t.Error("a rejects file was written for a missing file")
	}
}

// TestLookupModes: a file checked against items preloaded in memory and one checked
// chunk by chunk with queries give the same requests and the same rejects.
func TestLookupModes(t *testing.T) {
	src := filepath.Join("..", "samples", "inbox", "2026-11-29-bulk.csv")
	want := readAll(t, filepath.Join("testdata", "samples", "2026-11-29-bulk.rejects.csv"))
	for _, mode := range []struct {
		name string
		max  int
	}{{"preload", 0}, {"chunks", -1}} {
		t.Run(mode.name, func(t *testing.T) {
			db := setup(t)
			im, _ := newImporter(t, db, importer.Options{PreloadMaxItems: mode.max, ChunkSize: 7})
			path := writeFile(t, t.TempDir(), "bulk.csv", readAll(t, src))
			r, err := im.ImportFile(context.Background(), path, "")
			if err != nil {
				t.Fatal(err)
			}
			if r.Created != 8 || r.Rejected != 20 {
				t.Errorf("created %d, rejected %d; want 8 and 20", r.Created, r.Rejected)
			}
			if got := readAll(t, r.Rejects); got != want {
				t.Errorf("rejects differ from the golden file:\n%s", got)
			}
			var subs string
			if err := db.Get(&subs, `SELECT string_agg(coalesce(subscription_id::text, '-') || ':' || smartcard_ca_id || ':' || coalesce(stb_ca_id, ''), ',' ORDER BY sequence_number) FROM provisioning_requests`); err != nil {
				t.Fatal(err)
			}
			if want := "1:1000000001:,2:1000000002:,1:1000000001:,3:1000000003:7700000003,4:1000000004:,5:1000000005:,6:1000000006:,2:1000000002:"; subs != want {
				t.Errorf("resolved %s, want %s", subs, want)
			}
		})
	}
}

// TestWaitingBehindMarks: a row whose smartcard has an earlier row copied from the
// same file is marked as waiting behind it (waits_behind, migration 000031), so that
// the claim does not walk it; the first row of each card is not, rejected rows count
// for nothing, and a card's requests from elsewhere are not looked up (its first row
// here stays unmarked: the claim's head test still holds it back).
func TestWaitingBehindMarks(t *testing.T) {
	db := setup(t)
	pgtest.Request(t, db, pgtest.RequestOpts{Smartcard: "1000000002"}) // card 2's, from elsewhere
	content := header +
		"add_services,S1001,SC0000000001,,,SPORTS,,,,,\n" + // line 2: card 1's first
		"add_services,S1003,SC0000000003,,,NOPE,,,,,\n" + // line 3: rejected
		"add_services,S1002,SC0000000002,,,KIDS,,,,,\n" + // line 4: card 2's first here
		"add_services,S1003,SC0000000003,,,KIDS,,,,,\n" + // line 5: card 3's first copied
		"reset_smartcard,S1001,,1000000001,,,,,,,\n" + // line 6: card 1 by its CA id: behind line 2
		"add_services,S1001,SC0000000001,,,NEWS,,EXPRESS,,,\n" + // line 7: behind line 2
		"add_services,S1002,SC0000000002,,,NEWS,,,2026-12-24,,\n" // line 8: behind line 4
	im, _ := newImporter(t, db, importer.Options{})
	r, err := im.ImportFile(context.Background(), writeFile(t, t.TempDir(), "marks.csv", content), "")
	if err != nil || r.Created != 5 {
		t.Fatalf("import: %+v %v, want 5 created", r, err)
	}
	var got []struct {
		Line   int  `db:"source_line"`
		Behind bool `db:"waits_behind"`
	}
	if err := db.Select(&got, `SELECT source_line, waits_behind FROM provisioning_requests
	    WHERE source_file_id IS NOT NULL ORDER BY sequence_number`); err != nil {
		t.Fatal(err)
	}
	want := map[int]bool{2: false, 4: false, 5: false, 6: true, 7: true, 8: true}
	if len(got) != 5 {
		t.Fatalf("rows %+v", got)
	}
	for _, g := range got {
		if b, ok := want[g.Line]; !ok || b != g.Behind {
			t.Errorf("line %d: waits_behind %v, want %v", g.Line, g.Behind, b)
		}
	}
}
