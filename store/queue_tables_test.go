package store_test

import (
	"context"
	"testing"

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
