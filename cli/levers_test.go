package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
)

// TestRequestsLevers: each lever on one request and by filter, through the command
// line, on the ops fixture (PENDING: 6 retry wait, 7 due, 8 tomorrow, 11 in flight
// until 12:04); then pause and resume; and the audit trail of it all.
func TestRequestsLevers(t *testing.T) {
	db, vars := opsDB(t)
	steps := []struct {
		args []string
		code int
		want []string // in stdout, or stderr when code is not 0
	}{
		{[]string{"requests", "hold", "6", "--reason", "card swap", "--as", "alice"}, 0,
			[]string{"6       RESET_PIN", "held\n", "1 requests changed (held), 0 skipped"}},
		{[]string{"requests", "hold", "--smartcard", "1000000001", "--dry-run"}, 0,
			[]string{"would be held", "skipped: in flight: claimed by run 12, lease until 2026-11-30T12:04:00Z",
				"2 requests match, 1 would be changed, 1 skipped (dry run: nothing changed; confirm with --expect 2)"}},
		{[]string{"requests", "hold", "--smartcard", "1000000001", "--expect", "3"}, 1, []string{"2 requests match, but 3 were expected"}},
		{[]string{"requests", "hold", "--smartcard", "1000000001"}, 2, []string{"run it with --dry-run first"}},
		{[]string{"requests", "hold", "9"}, 1, []string{"request 9 is COMPLETED: only PENDING requests can be"}},
		{[]string{"requests", "hold", "6", "--type", "PAIR"}, 2, []string{"give a request number or filters, not both"}},
		{[]string{"requests", "cancel", "7"}, 2, []string{"cancel needs a reason"}},
		{[]string{"requests", "cancel", "7", "--reason", "customer left", "--as", "bob"}, 0, []string{"1 requests changed (cancelled: REJECTED, E_CANCELLED)"}},
		{[]string{"requests", "reschedule", "8", "--at", "7d"}, 2, []string{`--at "7d": give a time, now, or +7d`}},
		{[]string{"requests", "reschedule", "8", "--at", "+1d", "--as", "alice"}, 0, []string{"2026-12-01T12:00:00Z  rescheduled"}},
		{[]string{"requests", "priority", "URGENT", "8"}, 2, []string{`priority "URGENT": give EXPRESS or REGULAR`}},
		{[]string{"requests", "priority", "express", "--type", "ADD_PRODUCTS", "--yes", "--as", "alice"}, 0, []string{"1 requests changed (priority set)"}},
		{[]string{"requests", "release", "--all", "--yes", "--as", "alice"}, 0, []string{"released", "skipped: not held", "1 requests changed (released)"}},
		{[]string{"pause", "nothing"}, 2, []string{`pause "nothing": give one of housekeeping, import, process, reconcile, queue`}},
		{[]string{"pause", "queue", "--reason", "gateway upgrade", "--as", "alice"}, 0, []string{"queue paused by alice since 2026-11-30T12:00:00Z: gateway upgrade"}},
		{[]string{"status"}, 0, []string{"Paused (provisioner resume JOB|queue ends it):\n  queue  paused by alice since 2026-11-30T12:00:00Z: gateway upgrade"}},
		{[]string{"resume", "queue", "--as", "bob"}, 0, []string{"queue resumed (it was paused by alice since 2026-11-30T12:00:00Z: gateway upgrade)"}},
		{[]string{"resume", "queue"}, 0, []string{"queue is not paused: nothing to resume"}},
		{[]string{"audit", "list", "--action", "delete"}, 2, []string{`--action "delete": give one of retry, hold`}},
		{[]string{"audit", "list", "--operator", "alice", "--action", "hold"}, 0, []string{"alice     hold    1        6        requests hold 6 --reason \"card swap\" --as alice"}},
	}
	for _, s := range steps {
		r := runAt(t, vars, s.args...)
		out := r.stdout
		if s.code != 0 {
			out = r.stderr
		}
		if r.code != s.code {
			t.Errorf("%q: exit %d, want %d\n%s%s", s.args, r.code, s.code, r.stdout, r.stderr)
			continue
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q: output lacks %q:\n%s", s.args, w, out)
			}
		}
	}

	var got []struct {
		Operator string          `db:"operator"`
		Action   string          `db:"action"`
		Touched  int             `db:"touched"`
		Numbers  []int64         `db:"numbers"`
		Filters  json.RawMessage `db:"filters"`
	}
	r := runAt(t, vars, "audit", "list", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("audit list --json: %v\n%s", err, r.stdout)
	}
	var actions []string
	for _, e := range got {
		actions = append(actions, e.Operator+" "+e.Action)
	}
	want := "bob resume,alice pause,alice release,alice priority,alice reschedule,bob cancel,alice hold"
	if strings.Join(actions, ",") != want {
		t.Errorf("audit trail %v, want %s", actions, want)
	}
	var row struct {
		State, Code, Desc, Priority string
		Held                        bool
	}
	if err := db.QueryRow(`SELECT life_cycle_state, coalesce(error_code, ''), coalesce(error_description, ''), priority, held_at IS NOT NULL
	    FROM provisioning_requests WHERE number = 7`).Scan(&row.State, &row.Code, &row.Desc, &row.Priority, &row.Held); err != nil {
		t.Fatal(err)
	}
	if row.State != "REJECTED" || row.Code != "E_CANCELLED" || row.Desc != "cancelled by bob: customer left" {
		t.Errorf("request 7 after cancel: %+v", row)
	}
}

// TestAuditOfOtherLevers: tokens create and revoke and reference load are in the
// audit trail, under --as or the login name.
func TestAuditOfOtherLevers(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": pgtest.NewURL(t)}
	for _, args := range [][]string{
		{"reference", "load", "--as", "carol", "../samples/reference"},
		{"tokens", "create", "--as", "carol", "crm"},
		{"tokens", "revoke", "crm"},
	} {
		if r := runCLI(t, vars, args...); r.code != 0 {
			t.Fatalf("%q: exit %d %s", args, r.code, r.stderr)
		}
	}
	r := runCLI(t, vars, "audit", "list", "--json")
	var got []struct {
		Operator string         `json:"operator"`
		Action   string         `json:"action"`
		Filters  map[string]any `json:"filters"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 3 {
		t.Fatalf("audit list: %v\n%s", err, r.stdout)
	}
	if got[0].Action != "tokens revoke" || got[0].Operator != ops.DefaultOperator() || got[0].Filters["name"] != "crm" ||
		got[1].Action != "tokens create" || got[1].Operator != "carol" ||
		got[2].Action != "reference load" || got[2].Operator != "carol" || got[2].Filters["dir"] != "../samples/reference" {
		t.Errorf("audit trail %+v", got)
	}
}
