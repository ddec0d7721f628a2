package store_test

import (
	"context"
	"testing"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/store"
)

// TestRefreshRequestStats: the requests are analysed when, and only when, the
// statistics hide most of the PENDING requests; a second check then finds them fresh.
func TestRefreshRequestStats(t *testing.T) {
	cases := []struct {
		name             string
		settled, pending int
		analyseBetween   bool // ANALYZE after the settled rows, before the pending ones
		analyseAfter     bool // ANALYZE after both
		want             bool // analysed
	}{
		{"empty table", 0, 0, false, false, false},
		{"never analysed, a small queue", 0, 300, false, false, false},
		{"history analysed, then a bulk import", 2000, 6000, true, false, true},
		{"history analysed, then a few requests", 2000, 500, true, false, false},
		{"analysed after the import", 2000, 6000, false, true, false},
		{"never analysed, a bulk import", 0, 6000, false, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, _ := pgtest.New(t)
			ctx := context.Background()
			exec := func(q string, args ...any) {
				t.Helper()
				if _, err := db.ExecContext(ctx, q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			insert := `INSERT INTO provisioning_requests (type, life_cycle_state, smartcard_ca_id)
			           SELECT 'RESET_PIN', $1, 'SC' || g FROM generate_series(1, $2) g`
			exec(insert, "COMPLETED", c.settled)
			if c.analyseBetween {
				exec("ANALYZE provisioning_requests")
			}
			exec(insert, "PENDING", c.pending)
			if c.analyseAfter {
				exec("ANALYZE provisioning_requests")
			}

			got, err := store.RefreshRequestStats(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if got.Analysed != c.want {
				t.Errorf("analysed %v, want %v (estimated %d pending, counted %d)", got.Analysed, c.want, got.Estimated, got.Counted)
			}
			again, err := store.RefreshRequestStats(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if again.Analysed {
				t.Errorf("analysed again right after (estimated %d, counted %d): the first ANALYZE did not fix the estimate", again.Estimated, again.Counted)
			}
			if c.want && (again.Estimated < int64(c.pending)/2 || again.Estimated > int64(c.pending)*2) {
				t.Errorf("after the refresh the planner estimates %d pending requests, there are %d", again.Estimated, c.pending)
			}
		})
	}
}

// TestRefreshRequestStatsTx: in the transaction that inserted the requests, the
// refresh sees them, and the statistics commit with them; a failure inside leaves
// the transaction usable.
func TestRefreshRequestStatsTx(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	if _, err := db.Exec(`INSERT INTO provisioning_requests (type, life_cycle_state, smartcard_ca_id)
	        SELECT 'RESET_PIN', 'COMPLETED', 'SC' || g FROM generate_series(1, 2000) g`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("ANALYZE provisioning_requests"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO provisioning_requests (type, smartcard_ca_id)
	        SELECT 'RESET_PIN', 'SC' || g FROM generate_series(1, 6000) g`); err != nil {
		t.Fatal(err)
	}
	got, err := store.RefreshRequestStatsTx(ctx, tx)
	if err != nil || !got.Analysed {
		t.Fatalf("in the inserting transaction: %+v, %v; want analysed", got, err)
	}
	// A failure inside the savepoint (here a cancelled context) leaves tx usable.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := store.RefreshRequestStatsTx(cancelled, tx); err == nil {
		t.Error("a cancelled refresh reported no error")
	}
	if _, err := tx.Exec("SELECT 1"); err != nil {
		t.Fatalf("the transaction after a failed refresh: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	after, err := store.RefreshRequestStats(ctx, db)
	if err != nil || after.Analysed || after.Estimated < 3000 {
		t.Errorf("after the commit: %+v, %v; want about 6000 pending estimated, no second ANALYZE", after, err)
	}
}
