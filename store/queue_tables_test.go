package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/store"
)

// TestTidyQueueTables: a pending_queue left sparse by a drained queue (12,000
// requests queued, all but every 100th settled) is rewritten into the pages its rows
// need, unless a transaction holds a lock on it, which the rewrite does not wait for;
// a dense one is left as it is. status reads the table whole: on a 10M bench database
// it held 23,359 rows on 3,986 pages after a run of 200,000.
func TestTidyQueueTables(t *testing.T) {
	for _, tc := range []struct {
		name      string
		queued    int
		keepEvery int  // the requests left PENDING: every keepEvery-th
		locked    bool // another transaction reads pending_queue meanwhile
		compacted bool
		maxPages  int64
	}{
		{name: "sparse", queued: 12000, keepEvery: 100, compacted: true, maxPages: 4},
		{name: "sparse, but in use", queued: 12000, keepEvery: 100, locked: true, maxPages: 1 << 30},
		{name: "dense", queued: 12000, keepEvery: 1, maxPages: 1 << 30},
		{name: "small", queued: 3000, keepEvery: 100, maxPages: 1 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := pgtest.New(t)
			ctx := context.Background()
			db.MustExec(`INSERT INTO provisioning_requests (type, smartcard_ca_id)
				SELECT 'PAIR', 'card-' || i FROM generate_series(1, $1) i`, tc.queued)
			db.MustExec(`UPDATE provisioning_requests SET life_cycle_state = 'COMPLETED', executed_date = now()
				WHERE id % $1 <> 0`, tc.keepEvery)
			pages := func() int64 {
				t.Helper()
				var n int64
				if err := db.Get(&n, `SELECT pg_relation_size('pending_queue') / current_setting('block_size')::int`); err != nil {
					t.Fatal(err)
				}
				return n
			}
			before := pages()
			if tc.locked {
				tx := db.MustBegin()
				defer tx.Rollback()
				tx.MustExec(`SELECT count(*) FROM pending_queue`)
			}
			compacted, err := store.TidyQueueTables(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			after := pages()
			if compacted != tc.compacted || after > tc.maxPages || (!tc.compacted && after != before) {
				t.Errorf("compacted %v, %d pages then %d; want compacted %v and at most %d pages", compacted, before, after, tc.compacted, tc.maxPages)
			}
			var live, want int
			if err := db.Get(&live, `SELECT count(*) FROM pending_queue`); err != nil {
				t.Fatal(err)
			}
			if err := db.Get(&want, `SELECT count(*) FROM provisioning_requests WHERE life_cycle_state = 'PENDING'`); err != nil {
				t.Fatal(err)
			}
			if live != want {
				t.Errorf("pending_queue holds %d rows, the table %d PENDING", live, want)
			}
		})
	}
}

// TestVacuumRequestHistory: housekeeping's vacuum runs after its own deletions
// however few (force), and otherwise only once the server counts more dead rows in
// the requests or their sends than 10,000 + 2% of the live ones. What it vacuumed
// takes the next rows in: an import after it does not grow the table.
func TestVacuumRequestHistory(t *testing.T) {
	for _, tc := range []struct {
		name            string
		rows, deleted   int
		force, vacuumed bool
	}{
		{name: "own deletions, few", rows: 2000, deleted: 1000, force: true, vacuumed: true},
		{name: "few dead rows", rows: 2000, deleted: 1000},
		{name: "many dead rows", rows: 24000, deleted: 16000, vacuumed: true},
		{name: "nothing dead", rows: 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := pgtest.New(t)
			ctx := context.Background()
			db.MustExec(`INSERT INTO provisioning_requests (type, smartcard_ca_id, life_cycle_state, executed_date)
				SELECT 'PAIR', 'card-' || i, 'COMPLETED', now() FROM generate_series(1, $1) i`, tc.rows)
			// The deleting session flushes its statistics as soon as it idles
			// (pg_stat_force_next_flush), not up to 10 s later.
			conn, err := db.Connx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conn.ExecContext(ctx, `SELECT pg_stat_force_next_flush()`)
			if _, err := conn.ExecContext(ctx, `DELETE FROM provisioning_requests WHERE id <= (SELECT min(id) FROM provisioning_requests) + $1 - 1`, tc.deleted); err != nil {
				t.Fatal(err)
			}
			conn.Close()
			stat := func(col string) int64 {
				t.Helper()
				var n int64
				if err := db.Get(&n, `SELECT `+col+` FROM pg_stat_user_tables WHERE relid = 'provisioning_requests'::regclass`); err != nil {
					t.Fatal(err)
				}
				return n
			}
			// The server has them once the deleting session's statistics are flushed,
			// which it does when it goes idle.
			for deadline := time.Now().Add(time.Minute); stat("n_dead_tup") != int64(tc.deleted); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the server counts %d dead rows after a minute, want %d", stat("n_dead_tup"), tc.deleted)
				}
			}
			size := func() (n int64) {
				t.Helper()
				if err := db.Get(&n, `SELECT pg_relation_size('provisioning_requests')`); err != nil {
					t.Fatal(err)
				}
				return n
			}
			before, vacuums := size(), stat("vacuum_count")
			vacuumed, err := store.VacuumRequestHistory(ctx, db, tc.force)
			if err != nil {
				t.Fatal(err)
			}
			if vacuumed != tc.vacuumed || stat("vacuum_count")-vacuums != int64(btoi(tc.vacuumed)) {
				t.Errorf("vacuumed %v (vacuum_count %d more), want %v", vacuumed, stat("vacuum_count")-vacuums, tc.vacuumed)
			}
			if !tc.vacuumed || tc.deleted == 0 {
				return
			}
			if dead := stat("n_dead_tup"); dead != 0 {
				t.Errorf("%d dead rows after the vacuum", dead)
			}
			db.MustExec(`INSERT INTO provisioning_requests (type, smartcard_ca_id)
				SELECT 'PAIR', 'new-' || i FROM generate_series(1, $1) i`, tc.deleted)
			if after := size(); after != before {
				t.Errorf("as many new rows as were deleted grew the table from %d to %d bytes: the vacuum freed no room", before, after)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
