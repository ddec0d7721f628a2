package store

import (
	"context"
	"fmt"

	provsql "github.com/provisioner/provisioner/sql"
)

// TidyQueueTables keeps small the tables that status reads whole. It sums the
// deltas of the settled and rejected requests' counts (compact_settled_counts.sql),
// then vacuums pending_queue, settled_counts and rejected_counts
// (vacuum_queue_tables.sql; after the compaction, which rewrites the counts), and,
// when pending_queue has become sparse (the pages of a past bulk queue holding the
// few requests left), rewrites it without waiting for a lock
// (compact_pending_queue.sql). It reports whether it rewrote the table. At the end
// of a processing run and by housekeeping: autovacuum cannot be counted on, and
// never rewrites a table.
func TidyQueueTables(ctx context.Context, db *DB) (compacted bool, err error) {
	if _, err := db.ExecContext(ctx, provsql.CompactSettledCounts); err != nil {
		return false, fmt.Errorf("compact the settled counts: %w", err)
	}
	if _, err := db.ExecContext(ctx, provsql.VacuumQueueTables); err != nil {
		return false, fmt.Errorf("vacuum the queue tables: %w", err)
	}
	var sparse bool
	if err := db.GetContext(ctx, &sparse, provsql.PendingQueueSparse); err != nil {
		return false, fmt.Errorf("measure the pending queue: %w", err)
	}
	if !sparse {
		return false, nil
	}
	if _, err := db.ExecContext(ctx, provsql.CompactPendingQueue); err != nil {
		return false, fmt.Errorf("compact the pending queue: %w", err)
	}
	// A rewrite skipped for a lock is only a warning of the server's: whether the
	// table is still sparse tells (VACUUM FULL sets pg_class's figures).
	if err := db.GetContext(ctx, &sparse, provsql.PendingQueueSparse); err != nil {
		return false, fmt.Errorf("measure the pending queue: %w", err)
	}
	return !sparse, nil
}

// VacuumRequestHistory vacuums provisioning_requests and request_attempts when force
// is set (the caller has just deleted rows from them) or when the server's
// statistics count more dead rows than request_history_needs_vacuum.sql allows. It
// reports whether it vacuumed. By housekeeping: the deletions it makes and the
// write-backs of the runs before it leave dead rows that, unvacuumed, slow the
// claim and the importer by half at 10 million requests (docs/benchmarks.md), and
// autovacuum cannot be counted on.
func VacuumRequestHistory(ctx context.Context, db *DB, force bool) (bool, error) {
	if !force {
		if err := db.GetContext(ctx, &force, provsql.RequestHistoryNeedsVacuum); err != nil {
			return false, fmt.Errorf("count the requests' dead rows: %w", err)
		}
		if !force {
			return false, nil
		}
	}
	// With no statement_timeout: its time grows with the tables (DB.Maintenance).
	m, err := db.Maintenance(ctx)
	if err != nil {
		return false, fmt.Errorf("vacuum the requests: %w", err)
	}
	defer m.Close()
	if _, err := m.ExecContext(ctx, provsql.VacuumRequestHistory); err != nil {
		return false, fmt.Errorf("vacuum the requests: %w", err)
	}
	return true, nil
}
