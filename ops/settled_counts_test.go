package ops_test

import (
	"context"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
	provsql "github.com/provisioner/provisioner/sql"
)

// TestSettledCountsFollowTheTable: the settled requests' counts that status reads
// (settled_counts, kept by triggers: migration 000020) equal a count of the table
// after every kind of change: rows inserted settled, settled by an UPDATE as the
// write-back does, put back to PENDING (retry), re-prioritised while settled,
// deleted (housekeeping), compacted, and the table truncated.
func TestSettledCountsFollowTheTable(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	ago := pgtest.Ptr(time.Now().Add(-time.Hour))
	pgtest.Requests(t, db,
		pgtest.RequestOpts{Smartcard: "c1", State: "COMPLETED", ExecutedDate: ago},
		pgtest.RequestOpts{Smartcard: "c2", State: "REJECTED", ExecutedDate: ago, Type: "PAIR"},
		pgtest.RequestOpts{Smartcard: "c3"},
		pgtest.RequestOpts{Smartcard: "c4", Priority: "EXPRESS"},
		pgtest.RequestOpts{Smartcard: "c5"})
	steps := []struct {
		name, sql string
	}{
		{"inserted", ``},
		{"settled", `UPDATE provisioning_requests SET life_cycle_state = CASE WHEN smartcard_ca_id = 'c3' THEN 'REJECTED' ELSE 'COMPLETED' END,
		             executed_date = now() WHERE smartcard_ca_id IN ('c3', 'c4')`},
		{"claimed (no state changes)", `UPDATE provisioning_requests SET claimed_by = 1 WHERE smartcard_ca_id = 'c5'`},
		{"retried", `UPDATE provisioning_requests SET life_cycle_state = 'PENDING', executed_date = NULL WHERE smartcard_ca_id = 'c2'`},
		{"priority of a settled one", `UPDATE provisioning_requests SET priority = 'EXPRESS' WHERE smartcard_ca_id = 'c1'`},
		{"deleted", `DELETE FROM provisioning_requests WHERE smartcard_ca_id = 'c3'`},
		{"compacted", provsql.CompactSettledCounts},
		{"truncated", `TRUNCATE provisioning_requests`},
		{"inserted after", `INSERT INTO provisioning_requests (type, life_cycle_state, smartcard_ca_id) VALUES ('PAIR', 'COMPLETED', 'c9')`},
	}
	for _, s := range steps {
		if s.sql != "" {
			db.MustExec(s.sql)
		}
		groups, err := ops.CountRequests(ctx, db, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got := map[[3]string]int64{}
		for _, g := range groups {
			if g.State != "PENDING" {
				got[[3]string{g.State, g.Type, g.Priority}] = g.Count
			}
		}
		var rows []struct {
			State    string `db:"life_cycle_state"`
			Type     string `db:"type"`
			Priority string `db:"priority"`
			N        int64  `db:"n"`
		}
		if err := db.Select(&rows, `SELECT life_cycle_state, type, priority, count(*) AS n FROM provisioning_requests
		                            WHERE life_cycle_state <> 'PENDING' GROUP BY 1, 2, 3`); err != nil {
			t.Fatal(err)
		}
		want := map[[3]string]int64{}
		for _, r := range rows {
			want[[3]string{r.State, r.Type, r.Priority}] = r.N
		}
		if len(got) != len(want) {
			t.Errorf("%s: settled counts %v, the table has %v", s.name, got, want)
			continue
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: settled counts %v, the table has %v", s.name, got, want)
				break
			}
		}
	}
	var deltas int
	if err := db.Get(&deltas, `SELECT count(*) FROM settled_counts`); err != nil || deltas != 1 {
		t.Errorf("settled_counts after a truncate and one insert: %d rows (%v), want 1", deltas, err)
	}
}
