package ops_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
	provsql "github.com/provisioner/provisioner/sql"
)

// TestRejectedCountsFollowTheTable: the errors of the last day that status shows
// (top_errors.sql: the counts by minute of rejected_counts, migration 000030) equal a
// count of the table's rejected requests since the start of the first minute after
// every kind of change, from several starting points (on a minute, inside one,
// before the rejections, after all of them).
func TestRejectedCountsFollowTheTable(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	now := time.Now().UTC()
	at := func(d time.Duration) *time.Time { return pgtest.Ptr(now.Add(-d)) }
	code := func(c string) *string { return &c }
	pgtest.Requests(t, db,
		pgtest.RequestOpts{Smartcard: "c1", State: "REJECTED", ExecutedDate: at(72 * time.Hour), ErrorCode: code("E_OLD")},
		pgtest.RequestOpts{Smartcard: "c2", State: "REJECTED", ExecutedDate: at(90 * time.Minute), ErrorCode: code("E_NOT_PAIRED")},
		pgtest.RequestOpts{Smartcard: "c3", State: "REJECTED", ExecutedDate: at(90*time.Minute + 20*time.Second), ErrorCode: code("E_NOT_PAIRED")},
		pgtest.RequestOpts{Smartcard: "c4", State: "REJECTED", ExecutedDate: at(time.Hour), ErrorCode: code("E_BUSY")},
		pgtest.RequestOpts{Smartcard: "c5", State: "REJECTED", ExecutedDate: at(time.Minute)},
		pgtest.RequestOpts{Smartcard: "c6", State: "COMPLETED", ExecutedDate: at(time.Hour)},
		pgtest.RequestOpts{Smartcard: "c7"},
		pgtest.RequestOpts{Smartcard: "c8"})
	since := []time.Time{now.Add(-24 * time.Hour), now.Add(-90*time.Minute - 10*time.Second), now.Add(-90 * time.Minute).Truncate(time.Minute),
		now.Add(-2 * time.Hour), now.Add(time.Hour)}
	steps := []struct {
		name, sql string
	}{
		{"inserted", ``},
		{"rejected by an UPDATE", `UPDATE provisioning_requests SET life_cycle_state = 'REJECTED', executed_date = now(), error_code = 'E_BUSY'
		                          WHERE smartcard_ca_id IN ('c7', 'c8')`},
		{"claimed (no change)", `UPDATE provisioning_requests SET claimed_by = 1 WHERE smartcard_ca_id = 'c4'`},
		{"retried", `UPDATE provisioning_requests SET life_cycle_state = 'PENDING', executed_date = NULL, error_code = NULL WHERE smartcard_ca_id = 'c2'`},
		{"error code changed", `UPDATE provisioning_requests SET error_code = 'E_OTHER' WHERE smartcard_ca_id = 'c3'`},
		{"deleted", `DELETE FROM provisioning_requests WHERE smartcard_ca_id IN ('c4', 'c1')`},
		{"compacted", provsql.CompactSettledCounts},
		{"truncated", `TRUNCATE provisioning_requests`},
		{"inserted after", `INSERT INTO provisioning_requests (type, life_cycle_state, smartcard_ca_id, executed_date, error_code)
		                    VALUES ('PAIR', 'REJECTED', 'c9', now(), 'E_NEW')`},
	}
	for _, s := range steps {
		if s.sql != "" {
			db.MustExec(s.sql)
		}
		if s.sql == provsql.CompactSettledCounts {
			// The minutes more than two days old are gone: c1's, and its deletion's.
			var stale int
			if err := db.Get(&stale, `SELECT count(*) FROM rejected_counts WHERE minute < now() - interval '2 days'`); err != nil {
				t.Fatal(err)
			}
			if stale != 0 {
				t.Errorf("%d rows of rejected_counts older than two days after compaction", stale)
			}
		}
		for _, from := range since {
			var got, want []ops.ErrorCount
			if err := db.SelectContext(ctx, &got, provsql.TopErrors, from, 10); err != nil {
				t.Fatal(err)
			}
			if err := db.SelectContext(ctx, &want, `SELECT coalesce(error_code, '') AS error_code, count(*) AS count
			                                         FROM provisioning_requests WHERE life_cycle_state = 'REJECTED'
			                                         AND executed_date >= date_trunc('minute', $1::timestamptz, 'UTC')
			                                         GROUP BY 1 ORDER BY 2 DESC, 1`, from); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s, since %v: top errors %v, the table has %v", s.name, from.Sub(now), got, want)
			}
		}
	}
}

// TestCountTablesStaySmall: every compaction deletes the count tables' rows and
// writes their sums again, so without the vacuum that follows it at a run's end and
// in housekeeping (vacuum_queue_tables.sql) each compaction leaves a whole dead copy
// of them, and status reads them whole (rejected_counts grew to 2,571 pages for 6,255
// live rows on a 10M bench database). After many compactions each table stays within
// a few pages of its live rows.
func TestCountTablesStaySmall(t *testing.T) {
	db, _ := pgtest.New(t)
	// One minute for the whole test, so that a minute turning over meanwhile adds
	// no row of its own.
	base := time.Now().UTC().Truncate(time.Minute)
	// A day of rejections, 500 minutes, two error codes each, and settled counts.
	db.MustExec(`INSERT INTO rejected_counts (minute, error_code, n)
		SELECT $1::timestamptz - make_interval(mins => m), c, 1
		FROM generate_series(1, 500) m, (VALUES ('E_BUSY'), ('E_NOT_PAIRED')) v(c)`, base)
	db.MustExec(`INSERT INTO settled_counts (life_cycle_state, type, priority, n)
		SELECT 'COMPLETED', 'PAIR', 'REGULAR', 1 FROM generate_series(1, 1000)`)
	for _, tc := range []struct {
		name   string
		vacuum bool
		// maxPages: the most pages rejected_counts may take after the compactions.
		minPages, maxPages int64
	}{
		// 1,001 rows take 7 pages. Without the vacuum the 20 dead copies pile up
		// (140 pages and more); with it the table holds about two copies, the live one
		// and the one the next compaction writes into the room the vacuum freed, and
		// where each lands is the free space map's choice: a bound with room to spare.
		{"compactions alone", false, 60, 1 << 30},
		{"compactions each followed by the vacuum", true, 0, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db.MustExec(`VACUUM FULL rejected_counts`) // each case starts from the live rows alone
			for i := 0; i < 20; i++ {
				// Another minute's rejection, as a run appends between compactions.
				db.MustExec(`INSERT INTO rejected_counts (minute, error_code, n) VALUES ($1, 'E_BUSY', 1)`, base)
				db.MustExec(provsql.CompactSettledCounts)
				if tc.vacuum {
					db.MustExec(provsql.VacuumQueueTables)
				}
			}
			var pages int64
			if err := db.Get(&pages, `SELECT pg_relation_size('rejected_counts') / current_setting('block_size')::int`); err != nil {
				t.Fatal(err)
			}
			if pages < tc.minPages || pages > tc.maxPages {
				t.Errorf("rejected_counts takes %d pages after 20 compactions, want %d to %d", pages, tc.minPages, tc.maxPages)
			}
			var live int64
			if err := db.Get(&live, `SELECT count(*) FROM rejected_counts`); err != nil {
				t.Fatal(err)
			}
			if live != 1001 {
				t.Errorf("rejected_counts holds %d rows, want 1,001 (500 minutes x 2 codes and the current minute)", live)
			}
		})
	}
}
