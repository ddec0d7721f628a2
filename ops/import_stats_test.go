package ops

import (
	"context"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/pgtest"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// TestListPlansOnImportStatistics: the operator's reads after an import into a
// small history, on the statistics the importer's refresh left
// (store.RefreshRequestStats, analyze_requests.sql: a sample taken while every
// row was PENDING, and no statistics at all of the columns it does not analyse,
// such as subscription_id, on a table first analysed empty). The import's requests
// are then settled, as its processing run would, a fifth of them REJECTED.
// A subscription's list and its capped count read the subscription's two indexes
// (not a walk of the number index filtered by the subscription, which the planner
// expected to stop after 200 x 101 rows and which read all of them: 191 ms in the
// history bench at 0); `--state REJECTED` walks rejected_code_created by number
// (not the index by settlement time, costed at one row there, read whole and
// sorted: 55,772 entries, 90 ms to 1.8 s). Half the rows REJECTED, with a long
// error code: the planner then costs the two indexes' descents apart, and on the
// old predicate took the one by settlement time.
func TestListPlansOnImportStatistics(t *testing.T) {
	// 200,000 rows: below about 100,000 the planner prefers the subscription's
	// indexes even without statistics.
	const (
		subs = `INSERT INTO subscriptions (number, state) SELECT 'S' || i, 'ACTIVE' FROM generate_series(1, 20000) i;
			INSERT INTO installed_items (kind, serial_number, ca_id, subscription_id)
			SELECT 'SMARTCARD', 'SN' || substr(number, 2), 'C' || substr(number, 2), id FROM subscriptions`
		imported = `INSERT INTO provisioning_requests (type, smartcard_ca_id, subscription_id)
			SELECT 'RESET_PIN', 'C' || (1 + i % 20000), s.id
			FROM generate_series(1, 200000) i JOIN subscriptions s ON s.number = 'S' || (1 + i % 20000)`
		settled = `UPDATE provisioning_requests
			SET life_cycle_state = CASE WHEN id % 2 = 0 THEN 'REJECTED' ELSE 'COMPLETED' END, executed_date = now(),
			    error_code = CASE WHEN id % 2 = 0 THEN 'E_DESTINATION_UNREACHABLE' END
			WHERE life_cycle_state = 'PENDING'`
	)
	db, _ := pgtest.New(t)
	ctx := context.Background()
	// Each in a transaction of its own without the tests' statement timeout: on a
	// busy machine settling 200,000 rows outlasted it.
	exec := func(q string) {
		t.Helper()
		tx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		for _, q := range []string{"SET LOCAL statement_timeout = 0", q} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				t.Fatalf("%.60s: %v", q, err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	exec(subs)
	if _, err := db.Exec("ANALYZE"); err != nil { // the requests analysed while there are none
		t.Fatal(err)
	}
	exec(imported)
	if c, err := store.RefreshRequestStats(ctx, db); err != nil || !c.Analysed {
		t.Fatalf("the import's statistics refresh: %+v, %v", c, err)
	}
	exec(settled)
	// The walk of the number index is "... on provisioning_requests r"; the page's
	// rows are then read through it as "p".
	const walk = "provisioning_requests_number_key on provisioning_requests r "
	sub := []string{"provisioning_requests_subscription_settled", "provisioning_requests_subscription_unsettled"}
	rejected := []string{"provisioning_requests_rejected_code_created"}
	cases := []struct {
		name      string
		f         Filter
		count     bool // the capped count (count_requests_capped.sql) rather than the page
		uses, not []string
	}{
		{"subscription", Filter{Subscription: "S7", Limit: 101}, false, sub, []string{walk}},
		{"subscription, newest", Filter{Subscription: "S7", Newest: true, Limit: 101}, false, sub, []string{walk}},
		{"subscription, counted", Filter{Subscription: "S7"}, true, sub, []string{walk}},
		{"card", Filter{Smartcard: "C7", Limit: 101}, false,
			[]string{"provisioning_requests_smartcard_settled", "provisioning_requests_smartcard_unsettled"}, []string{walk}},
		{"REJECTED", Filter{States: []string{"REJECTED"}, Limit: 101}, false, rejected,
			[]string{"provisioning_requests_rejected", "provisioning_requests_rejected_executed", walk}},
		{"REJECTED, newest", Filter{States: []string{"REJECTED"}, Newest: true, Limit: 101}, false, rejected,
			[]string{"provisioning_requests_rejected", "provisioning_requests_rejected_executed", walk}},
	}
	for _, c := range cases {
		args, none, err := c.f.resolve(ctx, db)
		if err != nil || none {
			t.Fatalf("%s: resolve: %v (none %v)", c.name, err, none)
		}
		query := provsql.CountRequestsCapped
		if c.count {
			args = append(args, 10_001)
		} else {
			query, args = c.f.listQuery(args)
		}
		var lines []string
		if err := db.SelectContext(ctx, &lines, "EXPLAIN "+query, args...); err != nil {
			t.Fatalf("%s: explain: %v", c.name, err)
		}
		plan := strings.Join(lines, "\n")
		for _, ix := range c.uses {
			if !strings.Contains(plan, ix+" ") {
				t.Errorf("%s: the plan does not read %s:\n%s", c.name, ix, plan)
			}
		}
		for _, ix := range c.not {
			if strings.Contains(plan, strings.TrimSpace(ix)+" ") {
				t.Errorf("%s: the plan reads %s:\n%s", c.name, ix, plan)
			}
		}
		// And the rows are the right ones.
		f := c.f
		if c.count {
			continue
		}
		rows, err := List(ctx, db, f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(rows) == 0 {
			t.Errorf("%s: no rows", c.name)
		}
		for i := 1; i < len(rows); i++ {
			if (rows[i].Number > rows[i-1].Number) == f.Newest {
				t.Errorf("%s: rows out of order: %d after %d", c.name, rows[i].Number, rows[i-1].Number)
			}
		}
	}
}
