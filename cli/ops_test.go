package cli_test

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/testutil"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/store"
)

// clock is the tests' now: the fixture's times are placed around it.
var clock = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// opsDB is a database with the contents of testdata/ops_fixture.sql.
func opsDB(t *testing.T) (*store.DB, map[string]string) {
	t.Helper()
	db, dsn := pgtest.New(t)
	fixture, err := os.ReadFile(filepath.Join("testdata", "ops_fixture.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(fixture)); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return db, map[string]string{"DATABASE_URL": dsn}
}

// runAt runs a command with the tests' clock.
func runAt(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	return runCLIWith(t, vars, func() time.Time { return clock }, args...)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	testutil.Golden(t, name, []byte(got))
}

// inbox makes an inbox with two files waiting (the oldest changed 10 minutes before
// the clock), one being written (.tmp), one in processing/ and one refused in failed/.
func inbox(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"processing", "failed", "archive"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
	}
	files := map[string]time.Duration{
		"a.csv": 10 * time.Minute, "b.csv": 5 * time.Minute, "c.csv.tmp": time.Minute, ".hidden.csv": time.Hour,
		"processing/d.20261130T115000.000000Z.csv": 8 * time.Minute,
		"failed/e.20261130T100000.000000Z.csv":     2 * time.Hour, "failed/e.20261130T100000.000000Z.csv.error.txt": 2 * time.Hour,
		"archive/f.20261130T090000.000000Z.csv": 3 * time.Hour,
	}
	for name, ago := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("action\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, clock.Add(-ago), clock.Add(-ago))
	}
	return dir
}

// TestStatus: the table and the JSON of a database with known contents.
func TestStatus(t *testing.T) {
	_, vars := opsDB(t)
	dir := inbox(t)
	vars["PROVISIONER_INBOX"] = dir

	r := runAt(t, vars, "status")
	if r.code != 0 {
		t.Fatalf("status: exit %d\n%s", r.code, r.stderr)
	}
	golden(t, "status.txt", strings.ReplaceAll(r.stdout, dir, "INBOX"))

	r = runAt(t, vars, "status", "--json")
	if r.code != 0 {
		t.Fatalf("status --json: exit %d\n%s", r.code, r.stderr)
	}
	golden(t, "status.json", strings.ReplaceAll(r.stdout, dir, "INBOX"))

	// --inbox wins over the environment; without either the inbox is left out.
	other := t.TempDir()
	if r := runAt(t, vars, "status", "--inbox", other); !strings.Contains(r.stdout, "Inbox "+other+": 0 waiting, 0 in processing/, 0 in failed/") {
		t.Errorf("status --inbox: %s", r.stdout)
	}
	delete(vars, "PROVISIONER_INBOX")
	if r := runAt(t, vars, "status", "--json"); !strings.Contains(r.stdout, `"inbox": null`) {
		t.Errorf("status without an inbox: %s", r.stdout)
	}
	// The configuration's inbox when neither is given; a bad file is named (exit 2).
	cfg := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(cfg, []byte("[jobs.import]\ninbox = \""+other+"\"\n"), 0o600)
	if r := runAt(t, vars, "status", "--config", cfg); !strings.Contains(r.stdout, "Inbox "+other+": 0 waiting") {
		t.Errorf("status --config: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	os.WriteFile(cfg, []byte("[jobs.import]\ninbox = 3\n"), 0o600)
	if r := runAt(t, vars, "status", "--config", cfg); r.code != 2 || !strings.Contains(r.stderr, cfg+":2: jobs.import.inbox") {
		t.Errorf("status --config with a bad file: exit %d %s", r.code, r.stderr)
	}
	if r := runAt(t, vars, "status", "--inbox", filepath.Join(other, "missing")); r.code != 1 || !strings.Contains(r.stderr, "missing") {
		t.Errorf("status with a missing inbox: exit %d %s", r.code, r.stderr)
	}
}

// TestStatusBlocked (issue 11): requests behind an earlier request of their card are
// blocked, not due, and status says what blocks them; the oldest pending is a due one.
func TestStatusBlocked(t *testing.T) {
	db, vars := opsDB(t)
	// Behind 6 (backing off) and 8 (tomorrow) on card 1000000002, due by their dates,
	// one of them long ago.
	db.MustExec(`INSERT INTO provisioning_requests (type, scheduled_date, smartcard_ca_id, created_at)
	    VALUES ('RESET_PIN', '2026-11-29T00:00:00Z', '1000000002', '2026-11-29T00:00:00Z'),
	           ('RESET_PIN', '2026-11-30T11:00:00Z', '1000000002', '2026-11-30T11:00:00Z')`)
	r := runAt(t, vars, "status")
	for _, want := range []string{
		"Pending: 1 due, 2 blocked, 1 in flight, 0 held, 1 waiting to be sent again, 1 scheduled later\n",
		"  blocked behind an earlier request of their smartcard that is: 0 due, 0 in flight, 0 held, 2 waiting to be sent again, 0 scheduled later\n",
		"Oldest pending: request 7, due since 2026-11-30T11:30:00Z",
	} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("exit %d; status lacks %q:\n%s%s", r.code, want, r.stdout, r.stderr)
		}
	}
}

// TestStatusConfig: with a configuration, each job's schedule and whether a
// scheduled run is missing: at 12:00, import (every 30 minutes) last ran at 11:00
// (its 11:30 tick was SKIPPED), process (every 15 minutes) failed at its 11:45 tick,
// housekeeping is not scheduled.
func TestStatusConfig(t *testing.T) {
	_, vars := opsDB(t)
	cfg := filepath.Join(t.TempDir(), "c.toml")
	dir := inbox(t)
	os.WriteFile(cfg, []byte("[jobs.import]\ninbox = \""+dir+"\"\nschedule = \"*/30 * * * *\"\n[jobs.process]\nschedule = \"*/15 * * * *\"\n"), 0o600)
	for _, c := range []struct{ golden, flag string }{{"status_config.txt", ""}, {"status_config.json", "--json"}} {
		args := []string{"status", "--config", cfg}
		if c.flag != "" {
			args = append(args, c.flag)
		}
		r := runAt(t, vars, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
		golden(t, c.golden, strings.ReplaceAll(r.stdout, dir, "INBOX"))
	}
}

// TestStatusEmpty: a fresh database has zero of everything, and the JSON keeps its shape.
func TestStatusEmpty(t *testing.T) {
	_, dsn := pgtest.New(t)
	r := runAt(t, map[string]string{"DATABASE_URL": dsn}, "status", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	golden(t, "status_empty.json", r.stdout)
	// Every job is listed, as never run.
	r = runAt(t, map[string]string{"DATABASE_URL": dsn}, "status")
	if r.code != 0 {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	golden(t, "status_empty.txt", r.stdout)
}

// numbers are the request numbers of a requests list table.
func numbers(t *testing.T, out string) []int {
	t.Helper()
	var ns []int
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(line, "(") {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		ns = append(ns, n)
	}
	return ns
}

// TestRequestsList: each filter selects exactly the requests it should.
func TestRequestsList(t *testing.T) {
	_, vars := opsDB(t)
	cases := []struct {
		args []string
		want []int
	}{
		{nil, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{[]string{"--state", "REJECTED"}, []int{2, 3, 4, 5, 10}},
		{[]string{"--state", "pending, completed", "--priority", "EXPRESS"}, []int{7, 9}},
		{[]string{"--type", "ADD_PRODUCTS"}, []int{1, 8, 9}},
		{[]string{"--type", "PAIR,UNPAIR"}, []int{3, 5}},
		{[]string{"--error-code", "E_NOT_ENTITLED"}, []int{2, 10}},
		{[]string{"--error-code", "e_max_attempts,E_BUSY"}, []int{4, 6}},
		{[]string{"--smartcard", "SC0000000001"}, []int{1, 2, 5, 7, 9, 11}},
		{[]string{"--smartcard", "1000000002"}, []int{3, 4, 6, 8, 10}},
		{[]string{"--smartcard", "SC0000000099"}, nil},
		{[]string{"--subscription", "S1002", "--state", "PENDING"}, []int{6, 8}},
		{[]string{"--file", "bulk.csv"}, []int{1, 2}},
		{[]string{"--file", "bulk.20261130T080000.000000Z.csv"}, []int{1, 2}},
		{[]string{"--file", "1"}, []int{1, 2}},
		{[]string{"--file", "other.csv"}, nil},
		{[]string{"--created-since", "2026-11-30T10:00:00Z"}, []int{7, 9, 10, 11}},
		{[]string{"--created-since", "2026-11-30 09:00:00", "--created-until", "2026-11-30T10:00:00Z"}, []int{3, 4, 6}},
		{[]string{"--created-until", "2026-11-30"}, []int{5}},
		{[]string{"--executed-since", "24h"}, []int{1, 2, 3, 4, 9, 10}},
		// A settlement range lists by settlement time unless a sort is given.
		{[]string{"--executed-since", "3d", "--executed-until", "2026-11-30T09:00:00Z"}, []int{5, 1, 2}},
		{[]string{"--executed-since", "3d", "--executed-until", "2026-11-30T09:00:00Z", "--sort", "number"}, []int{1, 2, 5}},
		{[]string{"--sort", "executed"}, []int{5, 1, 2, 3, 4, 9, 10}},
		{[]string{"--sort", "executed-newest", "--limit", "3"}, []int{10, 9, 4}},
		{[]string{"--sort", "EXECUTED", "--state", "completed"}, []int{1, 9}},
		{[]string{"--sort", "newest", "--state", "PENDING"}, []int{11, 8, 7, 6}},
		{[]string{"--executed-since", "90m"}, []int{9, 10}},
		{[]string{"--limit", "3"}, []int{1, 2, 3}},
		{[]string{"--limit", "0", "--state", "COMPLETED"}, []int{1, 9}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runAt(t, vars, append([]string{"requests", "list"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := numbers(t, r.stdout); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v\n%s", got, tc.want, r.stdout)
			}
			if want := "(" + ops.Plural(len(tc.want), "request", "requests") + ")"; !strings.Contains(r.stdout, want) {
				t.Errorf("no %q in\n%s", want, r.stdout)
			}
			more := strings.Contains(r.stderr, "more than 3 requests match")
			if more != slices.Contains(tc.args, "3") {
				t.Errorf("stderr %q", r.stderr)
			}
			// An explicit settlement order without a settlement range says that
			// the PENDING requests it would otherwise list are left out.
			leftOut := strings.Contains(r.stderr, "PENDING requests, not settled yet, are left out")
			if want := slices.ContainsFunc(tc.args, func(a string) bool { return strings.HasPrefix(strings.ToLower(a), "executed") }) &&
				!slices.Contains(tc.args, "completed"); leftOut != want {
				t.Errorf("the note on PENDING requests: %v, want %v; stderr %q", leftOut, want, r.stderr)
			}
		})
	}
}

// TestRequestsListFormats: the table, CSV and JSON of the same requests.
func TestRequestsListFormats(t *testing.T) {
	_, vars := opsDB(t)
	for _, f := range []struct{ args, file string }{
		{"--format table", "list.txt"},
		{"--format csv --state REJECTED", "list_rejected.csv"},
		{"--format json --smartcard SC0000000002 --state PENDING,REJECTED", "list_card.json"},
	} {
		r := runAt(t, vars, append([]string{"requests", "list"}, strings.Fields(f.args)...)...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d %s", f.args, r.code, r.stderr)
		}
		golden(t, f.file, r.stdout)
	}
	if r := runAt(t, vars, "requests", "list", "--format", "json", "--state", "PENDING", "--type", "PAIR"); r.code != 0 || r.stdout != "[]\n" {
		t.Errorf("no match in JSON: exit %d %q", r.code, r.stdout)
	}
}

// TestRequestsShow: every field, the raw request and response.
func TestRequestsShow(t *testing.T) {
	_, vars := opsDB(t)
	r := runAt(t, vars, "requests", "show", "2")
	if r.code != 0 {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	golden(t, "show_2.txt", r.stdout)
	r = runAt(t, vars, "requests", "show", "--json", "4")
	if r.code != 0 {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	golden(t, "show_4.json", r.stdout)
	// The same in UTC from a session in another time zone.
	u, _ := url.Parse(vars["DATABASE_URL"])
	q := u.Query()
	q.Set("timezone", "Asia/Tokyo")
	u.RawQuery = q.Encode()
	if r := runAt(t, map[string]string{"DATABASE_URL": u.String()}, "requests", "show", "--json", "4"); r.code != 0 {
		t.Errorf("exit %d %s", r.code, r.stderr)
	} else {
		golden(t, "show_4.json", r.stdout)
	}
	// PENDING requests say what they wait for (issue 11): 8 is scheduled tomorrow and
	// behind 6, which backs off; 11 is in flight, behind 7, due; 7 is due.
	for _, c := range []struct {
		number, want string
	}{
		{"8", "waiting for:         its scheduled date, 2026-12-01T06:00:00Z; request 6, the first of its smartcard's queue (1 request ahead of it), which waits for a retry at 2026-11-30T12:05:00Z (2 unsettled sends, last E_BUSY)\n"},
		{"11", "waiting for:         run 12, which holds its lease until 2026-11-30T12:04:00Z (sending it, or dead and the lease runs out); request 7, the first of its smartcard's queue (1 request ahead of it), which waits for nothing: the next processing run claims it\n"},
		{"7", "waiting for:         nothing: the next processing run claims it\n"},
	} {
		if r := runAt(t, vars, "requests", "show", c.number); r.code != 0 || !strings.Contains(r.stdout, c.want) {
			t.Errorf("show %s: exit %d, want the line\n%s%s%s", c.number, r.code, c.want, r.stdout, r.stderr)
		}
	}
	if r := runAt(t, vars, "requests", "show", "--json", "8"); r.code != 0 ||
		!strings.Contains(r.stdout, `"waiting_for": [`) || !strings.Contains(r.stdout, `"kind": "blocked"`) {
		t.Errorf("show --json 8: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runAt(t, vars, "requests", "show", "99"); r.code != 1 || !strings.Contains(r.stderr, "request 99: no such request") {
		t.Errorf("unknown number: exit %d %s", r.code, r.stderr)
	}
}

// TestRequestsUsage: bad filter values and flags are named, exit 2, before the
// database is touched.
func TestRequestsUsage(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"requests"}, []string{"usage: provisioner requests list"}},
		{[]string{"requests", "lst"}, []string{`unknown subcommand "lst": expected list, show, retry, hold, release, cancel, reschedule or priority`}},
		{[]string{"requests", "list", "--state", "DONE"}, []string{`--state "DONE" is not one of PENDING, COMPLETED, REJECTED`}},
		{[]string{"requests", "list", "--state", ","}, []string{`--state ",": give at least one of PENDING, COMPLETED, REJECTED`}},
		{[]string{"requests", "list", "--type", "ADD", "--priority", "HIGH", "--error-code", "not a code", "--created-since", "yesterday", "--executed-until", "-5m"},
			[]string{`--type "ADD" is not one of ADD_PRODUCTS`, `--priority "HIGH" is not one of REGULAR, EXPRESS`, `--error-code "NOT A CODE" is not an error code`,
				`--created-since "yesterday" is not a time`, `--executed-until "-5m" is not a time`}},
		{[]string{"requests", "list", "--format", "xml"}, []string{`--format "xml": expected table, csv or json`}},
		{[]string{"requests", "list", "--limit", "-1"}, []string{"--limit -1: must not be negative"}},
		{[]string{"requests", "list", "--sort", "date"}, []string{`--sort "date": give number, newest, executed, executed-newest`}},
		{[]string{"requests", "list", "--sort", "executed", "--state", "PENDING"}, []string{`--sort "executed" lists settled requests only, by their settlement time: PENDING ones have none`}},
		{[]string{"requests", "list", "extra"}, []string{`requests list takes no arguments, got ["extra"]`}},
		{[]string{"requests", "show"}, []string{"requests show takes one request number"}},
		{[]string{"requests", "show", "12x"}, []string{`"12x" is not a request number`}},
		{[]string{"requests", "retry", "--yes"}, []string{"give at least one filter, or --all"}},
		{[]string{"requests", "retry", "--all", "--type", "PAIR", "--yes"}, []string{"--all retries every REJECTED request: give it without filters"}},
		{[]string{"requests", "retry", "--type", "PAIR"}, []string{"run it with --dry-run first, then confirm with --yes, or with --expect N"}},
		{[]string{"requests", "retry", "--type", "PAIR", "--yes", "--expect", "2"}, []string{"give --yes or --expect N, not both"}},
		{[]string{"requests", "retry", "--type", "PAIR", "--expect", "-2"}, []string{"--expect -2: must not be negative"}},
		{[]string{"requests", "retry", "--state", "PENDING", "--yes"}, []string{"flag provided but not defined: -state"}},
		{[]string{"requests", "retry", "--smartcard", "x", "--executed-since", "soon", "--yes"}, []string{`--executed-since "soon" is not a time`}},
		{[]string{"status", "x"}, []string{`status takes no arguments, got ["x"]`}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runAt(t, vars, tc.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2; stderr %s", r.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// retryRow is what a retry changes on a request.
type retryRow struct {
	Number     int64      `db:"number"`
	State      string     `db:"life_cycle_state"`
	Seq        int64      `db:"sequence_number"`
	Attempts   int        `db:"attempts"`
	Code       string     `db:"error_code"`
	Response   string     `db:"response"`
	Executed   bool       `db:"executed"`
	Generation int        `db:"command_generation"`
	Retries    int        `db:"retries"`
	RetriedAt  *time.Time `db:"retried_at"`
}

func retryRows(t *testing.T, db *store.DB) map[int64]retryRow {
	t.Helper()
	var rows []retryRow
	if err := db.Select(&rows, `SELECT number, life_cycle_state, sequence_number, attempts, coalesce(error_code, '') AS error_code,
	        coalesce(response, '') AS response, executed_date IS NOT NULL AS executed, command_generation, retries, retried_at
	    FROM provisioning_requests`); err != nil {
		t.Fatal(err)
	}
	m := map[int64]retryRow{}
	for _, r := range rows {
		m[r.Number] = r
	}
	return m
}

// TestRequestsRetry: the dry run changes nothing and gives the count; a count that
// differs from --expect is refused; the retry puts exactly the matching REJECTED
// requests back to PENDING with new sequence numbers in their old order, a new
// command_id for those the gateway rejected and the old one for E_MAX_ATTEMPTS.
func TestRequestsRetry(t *testing.T) {
	db, vars := opsDB(t)
	before := retryRows(t, db)

	// Request 4, a SET_PIN, lost its PIN when it was settled: a retry that takes it
	// without --pin is refused whole, dry run included, and shows what it matched.
	r := runAt(t, vars, "requests", "retry", "--error-code", "E_NOT_ENTITLED,E_MAX_ATTEMPTS", "--dry-run")
	if r.code != 2 || !strings.Contains(r.stderr, "request 4 is a SET_PIN whose PIN was erased when it was settled: retry it alone with the PIN (requests retry --number 4 --pin NNNN --yes); nothing retried") {
		t.Fatalf("dry run: exit %d %s", r.code, r.stderr)
	}
	golden(t, "retry_dry_run.txt", r.stdout)
	if after := retryRows(t, db); !mapsEqual(before, after) {
		t.Fatalf("the dry run changed requests")
	}

	r = runAt(t, vars, "requests", "retry", "--error-code", "E_NOT_ENTITLED,E_MAX_ATTEMPTS", "--expect", "2")
	if r.code != 1 || !strings.Contains(r.stderr, "3 requests match, but 2 were expected: nothing retried") {
		t.Fatalf("wrong --expect: exit %d %s", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"--error-code", "E_NOT_ENTITLED,E_MAX_ATTEMPTS", "--expect", "3"},
		{"--error-code", "E_NOT_ENTITLED,E_MAX_ATTEMPTS", "--expect", "3", "--pin", "4821"},
		{"--number", "2", "--pin", "4821", "--yes"},
	} {
		if r := runAt(t, vars, append([]string{"requests", "retry"}, args...)...); r.code != 2 {
			t.Fatalf("%v: exit %d %s", args, r.code, r.stderr)
		}
	}
	if after := retryRows(t, db); !mapsEqual(before, after) {
		t.Fatalf("a refused retry changed requests")
	}

	r = runAt(t, vars, "requests", "retry", "--error-code", "E_NOT_ENTITLED", "--expect", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "2 requests retried: PENDING again") {
		t.Fatalf("retry: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runAt(t, vars, "requests", "retry", "--number", "4", "--pin", "4821", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "1 request retried: PENDING again") {
		t.Fatalf("retry with --pin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var pin string
	if err := db.Get(&pin, "SELECT pin FROM provisioning_requests WHERE number = 4"); err != nil || pin != "4821" {
		t.Errorf("request 4's PIN after the retry: %q %v", pin, err)
	}
	after := retryRows(t, db)
	var maxSeq int64
	for n, b := range before {
		maxSeq = max(maxSeq, b.Seq)
		if n != 2 && n != 4 && n != 10 && after[n] != b {
			t.Errorf("request %d changed: %+v -> %+v", n, b, after[n])
		}
	}
	for _, n := range []int64{2, 4, 10} {
		a := after[n]
		if a.State != "PENDING" || a.Attempts != 0 || a.Code != "" || a.Response != "" || a.Executed || a.Retries != 1 ||
			a.RetriedAt == nil || !a.RetriedAt.Equal(clock) {
			t.Errorf("request %d after the retry: %+v", n, a)
		}
	}
	// New sequence numbers behind everything, in the old order within a retry.
	if !(maxSeq < after[2].Seq && after[2].Seq < after[10].Seq && after[10].Seq < after[4].Seq) {
		t.Errorf("sequence numbers: before max %d; after 2: %d, 10: %d, 4: %d", maxSeq, after[2].Seq, after[10].Seq, after[4].Seq)
	}
	if g := []int{after[2].Generation, after[4].Generation, after[10].Generation}; !slices.Equal(g, []int{1, 0, 1}) {
		t.Errorf("command generations of 2, 4, 10: %v, want [1 0 1]", g)
	}
	if r := runAt(t, vars, "requests", "show", "2"); !strings.Contains(r.stdout, "command id:          2.1") ||
		!strings.Contains(r.stdout, "operator retries:    1, last 2026-11-30T12:00:00Z, which cleared E_NOT_ENTITLED: smartcard 1000000001 is not entitled to P-1002\n") {
		t.Errorf("show after the retry:\n%s", r.stdout)
	}
	if r := runAt(t, vars, "requests", "show", "4"); !strings.Contains(r.stdout, "command id:          4\n") || !strings.Contains(r.stdout, "pin:                 ****\n") {
		t.Errorf("show after the retry:\n%s", r.stdout)
	}
	// Nothing left to retry for these codes; the other REJECTED ones are still there.
	if r := runAt(t, vars, "requests", "retry", "--error-code", "E_NOT_ENTITLED,E_MAX_ATTEMPTS", "--yes"); r.code != 0 || r.stdout != "no REJECTED request matches: nothing to retry\n" {
		t.Errorf("second retry: exit %d %q", r.code, r.stdout)
	}
	if r := runAt(t, vars, "requests", "retry", "--all", "--dry-run"); !strings.Contains(r.stdout, "2 requests would be retried") {
		t.Errorf("--all --dry-run:\n%s", r.stdout)
	}
	if r := runAt(t, vars, "requests", "retry", "--smartcard", "SC0000000002", "--yes"); r.code != 0 || !strings.Contains(r.stdout, "1 request retried") {
		t.Errorf("--yes: exit %d\n%s", r.code, r.stdout)
	}
	if a := retryRows(t, db)[3]; a.State != "PENDING" || a.Generation != 1 {
		t.Errorf("request 3 after --yes: %+v", a)
	}
}

func mapsEqual(a, b map[int64]retryRow) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestStatusCheck (issue 11): status --check is a monitoring check: one summary line
// with the figures, a line per problem, and the exit code of Nagios plugins, the
// worst problem's: an overdue job CRITICAL, a file in failed/ WARNING, the oldest
// due request past a threshold WARNING or CRITICAL; UNKNOWN when it cannot check.
func TestStatusCheck(t *testing.T) {
	_, vars := opsDB(t)
	dir := inbox(t) // one file in failed/
	cfg := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(cfg, []byte("[jobs.import]\ninbox = \""+dir+"\"\nschedule = \"*/30 * * * *\"\n"), 0o600)
	empty := t.TempDir()
	// At 12:00 the oldest due request is 7, due since 11:30 (30 minutes); import's
	// 11:30 tick had no run.
	cases := []struct {
		name  string
		args  []string
		code  int
		lines []string
	}{
		{"nothing to see", []string{"--inbox", empty}, 0, []string{
			"PROVISIONER OK - nothing needs a person | due=1 blocked=0 in_flight=1 retry_wait=1 scheduled=1 oldest_due_age=1800s;3600;14400 inbox_waiting=0 inbox_failed=0"}},
		{"a file in failed/", []string{"--inbox", dir}, 1, []string{
			"PROVISIONER WARNING - 1 file in " + dir + "/failed, refused whole: read the .error.txt beside each | ",
			"WARNING: 1 file in " + dir + "/failed"}},
		{"due too long: warning", []string{"--inbox", empty, "--due-warning", "20m"}, 1, []string{
			"PROVISIONER WARNING - request 7 due for 30m0s (more than 20m0s) and not sent | due=1 blocked=0 in_flight=1 retry_wait=1 scheduled=1 oldest_due_age=1800s;1200;14400"}},
		{"due too long: critical", []string{"--inbox", empty, "--due-warning", "10m", "--due-critical", "25m"}, 2, []string{
			"PROVISIONER CRITICAL - request 7 due for 30m0s (more than 25m0s) and not sent | "}},
		{"thresholds off", []string{"--inbox", empty, "--due-warning", "0", "--due-critical", "0"}, 0, []string{
			"oldest_due_age=1800s;; "}},
		{"overdue job and failed/: the worst", []string{"--config", cfg}, 2, []string{
			"PROVISIONER CRITICAL - job import overdue: its tick of 2026-11-30T11:30:00Z had no run; 1 file in " + dir + "/failed",
			"CRITICAL: job import overdue", "WARNING: 1 file in "}},
		{"bad flag", []string{"--due-warning", "soon"}, 3, []string{"PROVISIONER UNKNOWN - invalid value \"soon\" for flag -due-warning"}},
		{"with --json", []string{"--json"}, 3, []string{"PROVISIONER UNKNOWN - --check and --json are two outputs: give one"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runAt(t, vars, append([]string{"status", "--check"}, c.args...)...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d\n%s%s", r.code, c.code, r.stdout, r.stderr)
			}
			for _, l := range c.lines {
				if !strings.Contains(r.stdout, l) {
					t.Errorf("output lacks %q:\n%s", l, r.stdout)
				}
			}
		})
	}
	if r := runAt(t, map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/x?sslmode=disable&connect_timeout=5"}, "status", "--check"); r.code != 3 ||
		!strings.HasPrefix(r.stdout, "PROVISIONER UNKNOWN - ") {
		t.Errorf("database unreachable: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
