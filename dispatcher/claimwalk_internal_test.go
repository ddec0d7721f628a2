package dispatcher

import (
	"encoding/json"
	"testing"

	"github.com/provisioner/provisioner/internal/pgtest"
	provsql "github.com/provisioner/provisioner/sql"
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
			// Settled history, analysed: the statistics know no PENDING request.
			exec(`INSERT INTO provisioning_requests (type, life_cycle_state, smartcard_ca_id, executed_date)
			      SELECT 'RESET_PIN', 'COMPLETED', 'SC' || g, now() - interval '1 day' FROM generate_series(1, 5000) g`)
			exec("ANALYZE provisioning_requests")
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
			// Rows returned by the UPDATE, and rows read and thrown away by any node.
			var removed float64
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
			claimed, _ := plans[0].Plan["Actual Rows"].(float64)
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
