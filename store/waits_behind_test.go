package store_test

import (
	"io/fs"
	"testing"

	"github.com/provisioner/provisioner/internal/pgtest"
	provsql "github.com/provisioner/provisioner/sql"
)

// TestWaitsBehindMigration: migration 000031 on a database with requests queued
// (several per card, one card's head held, settled ones) marks exactly those that wait
// behind an earlier PENDING request of their card, and leaves a claim index that every
// transaction may use at once. Marked before the index was built, the marks' HOT
// updates, in the build's own transaction, made it flag the index
// (pg_index.indcheckxmin), unused by any snapshot older than it: while any
// transaction of the server that was running at the migration lasted, claims read
// the whole table.
func TestWaitsBehindMigration(t *testing.T) {
	db, _ := pgtest.New(t)
	read := func(name string) string {
		b, err := fs.ReadFile(provsql.Migrations(), name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%v: %s", err, q)
		}
	}
	exec(read("000031_waits_behind.down.sql"))
	// Card C<n>: a settled request, then three PENDING ones, C0's first held. All
	// inserted: no update, whose old row versions (recently dead while any other
	// transaction of the server is older) would flag any index built, this one or not.
	exec(`INSERT INTO provisioning_requests (type, smartcard_ca_id, life_cycle_state, executed_date)
	      SELECT 'RESET_PIN', 'C' || g, 'COMPLETED', now() FROM generate_series(0, 49) g`)
	exec(`INSERT INTO provisioning_requests (type, smartcard_ca_id, held_at, held_by)
	      SELECT 'RESET_PIN', 'C' || (g % 50), CASE WHEN g = 0 THEN now() END, CASE WHEN g = 0 THEN 't' END
	      FROM generate_series(0, 149) g`)
	exec(read("000031_waits_behind.up.sql"))

	var check struct {
		CheckXmin bool `db:"indcheckxmin"`
		Marked    int  `db:"marked"`
		Wrong     int  `db:"wrong"`
	}
	if err := db.Get(&check, `
	    SELECT (SELECT indcheckxmin FROM pg_index WHERE indexrelid = 'provisioning_requests_claim_next'::regclass),
	           count(*) FILTER (WHERE waits_behind) AS marked,
	           count(*) FILTER (WHERE waits_behind IS DISTINCT FROM (life_cycle_state = 'PENDING' AND EXISTS (
	               SELECT FROM provisioning_requests p WHERE p.smartcard_ca_id = r.smartcard_ca_id
	                 AND p.life_cycle_state = 'PENDING' AND p.sequence_number < r.sequence_number))) AS wrong
	    FROM provisioning_requests r`); err != nil {
		t.Fatal(err)
	}
	if check.CheckXmin {
		t.Errorf("provisioning_requests_claim_next has indcheckxmin set: no older snapshot may use it")
	}
	if check.Marked != 100 || check.Wrong != 0 {
		t.Errorf("%d requests marked, %d wrongly: want 100 (two of each card's three PENDING), none wrong", check.Marked, check.Wrong)
	}
}
