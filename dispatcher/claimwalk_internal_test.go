package dispatcher

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// TestClaimPassesOverLaterRequests: requests scheduled later and requests waiting
// for a retry, ahead of the due ones in claim order, are passed over in the claim
// index without reading their rows (migration 000026), on fresh and on stale
// statistics. Before, every claim read each of them: at 10 million settled requests,
// mostly from disk (docs/benchmarks.md, "Cost as history grows").
func TestClaimPassesOverLaterRequests(t *testing.T) {
	const (
		later, waiting, due = 6000, 2000, 500
		claim               = 100
	)
	for _, tc := range []struct {
		name  string
		fresh bool // ANALYZE after the queue is in
	}{
		{"fresh statistics", true},
		{"stale statistics", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := pgtest.New(t)
			exec := mustExec(t, db)
			settledHistory(exec)
			// First in claim order: scheduled later, then waiting for a retry; then
			// the due ones. Every one on a card of its own: each is its card's head.
			exec(`INSERT INTO provisioning_requests (type, smartcard_ca_id, scheduled_date)
			      SELECT 'RESET_PIN', 'L' || g, now() + interval '3 days' FROM generate_series(1, $1) g`, later)
			exec(`INSERT INTO provisioning_requests (type, smartcard_ca_id, next_attempt_at, attempts)
			      SELECT 'RESET_PIN', 'W' || g, now() + interval '1 hour', 1 FROM generate_series(1, $1) g`, waiting)
			exec(`INSERT INTO provisioning_requests (type, smartcard_ca_id)
			      SELECT 'RESET_PIN', 'D' || g FROM generate_series(1, $1) g`, due)
			if tc.fresh {
				exec("ANALYZE provisioning_requests")
			}

			claimed, removed := explainClaim(t, db, claim)
			if claimed != claim {
				t.Fatalf("claimed %v, want %d", claimed, claim)
			}
			// The few rows a claim may read beside those it takes (the leased, the
			// held, those behind their card's first): none here. Before, 8,000.
			if removed > claim {
				t.Errorf("the claim read and threw away %v rows to claim %d (%d scheduled later, %d waiting for a retry, ahead): want at most %d",
					removed, claim, later, waiting, claim)
			}
		})
	}
}

// TestClaimPassesOverWaitingRequests: due requests waiting behind their card's head
// that is not (scheduled later, held), imported together with it, are not walked by
// the claim at all (waits_behind, migration 000031), on fresh and on stale
// statistics. Before, every claim read each one's row and its head's: some 45,000 a
// claim on historybench's queue at 10 million settled requests (docs/benchmarks.md,
// "Cost as history grows").
func TestClaimPassesOverWaitingRequests(t *testing.T) {
	const (
		cards, behind, due = 300, 20, 500
		claim              = 100
	)
	for _, tc := range []struct {
		name  string
		held  bool // the heads held, else scheduled later
		fresh bool // ANALYZE after the queue is in
	}{
		{"scheduled later, fresh statistics", false, true},
		{"scheduled later, stale statistics", false, false},
		{"held, fresh statistics", true, true},
		{"held, stale statistics", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := pgtest.New(t)
			exec := mustExec(t, db)
			settledHistory(exec)
			// First in claim order: each card's head, not due, and the due requests
			// behind it, in one insert as a file's rows; then due heads of their own.
			later := time.Now().Add(72 * time.Hour)
			var reqs []pgtest.RequestOpts
			for c := range cards {
				card := fmt.Sprintf("L%05d", c)
				if tc.held {
					reqs = append(reqs, pgtest.RequestOpts{Smartcard: card})
				} else {
					reqs = append(reqs, pgtest.RequestOpts{Smartcard: card, ScheduledDate: &later})
				}
				for range behind {
					reqs = append(reqs, pgtest.RequestOpts{Smartcard: card})
				}
			}
			pgtest.Requests(t, db, reqs...)
			if tc.held {
				exec(`UPDATE provisioning_requests SET held_at = now(), held_by = 'test'
				      WHERE life_cycle_state = 'PENDING' AND NOT waits_behind`)
			}
			exec(`INSERT INTO provisioning_requests (type, smartcard_ca_id)
			      SELECT 'RESET_PIN', 'D' || g FROM generate_series(1, $1) g`, due)
			if tc.fresh {
				exec("ANALYZE provisioning_requests")
			}
			claimed, removed := explainClaim(t, db, claim)
			if claimed != claim {
				t.Fatalf("claimed %v, want %d", claimed, claim)
			}
			// A held head is in the index, and read (its hold is on its row); one
			// scheduled later is passed over in the index. Before, 6,000 more: each
			// waiting request's row.
			want := float64(claim)
			if tc.held {
				want += cards
			}
			if removed > want {
				t.Errorf("the claim read and threw away %v rows to claim %d (%d requests waiting behind %d heads not due, ahead): want at most %v",
					removed, claim, cards*behind, cards, want)
			}
		})
	}
}

// explainClaim runs the claim of up to claim requests under EXPLAIN (ANALYZE), in
// its settings' transaction, rolled back: the rows it claimed, and the rows read and
// thrown away by any node of its plan.
func explainClaim(t *testing.T, db *store.DB, claim int) (claimed, removed float64) {
	t.Helper()
	tx, err := db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(provsql.ClaimSettings); err != nil {
		t.Fatal(err)
	}
	var out []byte
	if err := tx.QueryRow("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+provsql.ClaimRequests, 1, claim, 300, 0, 1).Scan(&out); err != nil {
		t.Fatalf("explain the claim: %v", err)
	}
	var plans []struct {
		Plan map[string]any `json:"Plan"`
	}
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain output: %v: %s", err, out)
	}
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		for _, k := range []string{"Rows Removed by Filter", "Rows Removed by Index Recheck"} {
			if v, ok := n[k].(float64); ok {
				removed += v
			}
		}
		if subs, ok := n["Plans"].([]any); ok {
			for _, s := range subs {
				walk(s.(map[string]any))
			}
		}
	}
	walk(plans[0].Plan)
	claimed, _ = plans[0].Plan["Actual Rows"].(float64)
	return claimed, removed
}

// settledHistory writes 5,000 settled requests and analyses the table: the
// statistics then know no PENDING request, as after a bulk import into a history.
func settledHistory(exec func(q string, args ...any)) {
	exec(`INSERT INTO provisioning_requests (type, life_cycle_state, smartcard_ca_id, executed_date)
	      SELECT 'RESET_PIN', 'COMPLETED', 'SC' || g, now() - interval '1 day' FROM generate_series(1, 5000) g`)
	exec("ANALYZE provisioning_requests")
}
