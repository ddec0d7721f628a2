package benchrun

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestCopyTargetIsTheImportersCopy(t *testing.T) {
	table, columns, err := copyTarget()
	if err != nil {
		t.Fatal(err)
	}
	if table != "provisioning_requests" {
		t.Errorf("table %q", table)
	}
	// The lib/pq baseline types its values by position: it must follow the statement.
	if !sameColumns(columns) {
		t.Errorf("copy_requests.sql copies %v; resolvedRow holds %v: update resolvedRow and knownColumns", columns, knownColumns)
	}
}

func TestReadResolved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rows.copy")
	data := "ADD_PRODUCTS\tREGULAR\t2026-11-29 12:26:01.123456+00\tf\t42\t1000000042\t{P-1001,P-1002}\t\\N\t\\N\t\\N\t1\t2\tf\n" +
		"PAIR\tEXPRESS\t2026-12-01 02:00:00+00\tt\t\\N\t1000000007\t\\N\t7700000007\t\\N\tCRM-1-00000003\t1\t3\tt\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	rows, err := readResolved(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	a, b := rows[0], rows[1]
	if a.typ != "ADD_PRODUCTS" || a.immediate || a.subscriptionID != 42 || !slices.Equal(a.services, []string{"P-1001", "P-1002"}) ||
		a.stb != "" || a.line != 2 || a.behind || !a.scheduled.Equal(time.Date(2026, 11, 29, 12, 26, 1, 123456000, time.UTC)) {
		t.Errorf("row 1: %+v", a)
	}
	args := b.args()
	if args[4] != nil || args[6] != nil || args[7] != "7700000007" || args[8] != nil || args[9] != "CRM-1-00000003" || args[3] != true || args[12] != true {
		t.Errorf("row 2 args: %#v", args)
	}

	if err := os.WriteFile(path, []byte("PAIR\tREGULAR\tx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readResolved(path); err == nil {
		t.Error("a short line was read")
	}
}

func TestLoggedDuration(t *testing.T) {
	log := `{"level":"info","msg":"starting"}
not json
{"created":10,"duration":"1.234s","file":"x.csv","level":"info","msg":"file imported","rejected":0,"rows":10}
`
	if d := loggedDuration(log); d != 1234*time.Millisecond {
		t.Errorf("got %v", d)
	}
	if d := loggedDuration("nothing"); d != 0 {
		t.Errorf("got %v", d)
	}
}

func TestFigures(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.6: "1,234,568", 100000: "100,000"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
	ms := []measurement{{wall: 3 * time.Second}, {wall: time.Second}, {wall: 2 * time.Second}}
	wall := func(m measurement) float64 { return float64(m.wall) }
	if got := time.Duration(median(ms, wall)); got != 2*time.Second {
		t.Errorf("median of 3: %v", got)
	}
	if got := time.Duration(median(ms[:2], wall)); got != 2*time.Second {
		t.Errorf("median of 2: %v", got)
	}
}
