package historybench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	provsql "github.com/provisioner/provisioner/sql"
)

// fillSQL appends requests $1+1 to $2 of a history of $3 settled requests spread
// evenly over the $4 days before now, oldest first (ids and numbers follow time, as
// in production), over the cards 1 to $5 of the samplegen fleet (smartcard i has CA
// id 1000000000+i and belongs to subscription i, whose id is $6+i). The mix: the
// request types in an operator's proportions, 1 in 100 EXPRESS, 3 in 100 REJECTED
// with one of a few error codes, the rest COMPLETED with the gateway's reference
// number; executed a few minutes after creation; 7 in 10 from one import file a day
// (import_files rows 1 to $4), the rest from the Web API; 1 in 100 with the caller's
// reference. Every one has the row of its send in request_attempts, as a run writes it.
const fillSQL = `
WITH g AS (
    SELECT i, 1 + floor(random() * $5)::int AS c, random() AS u, random() AS x,
           now() - make_interval(days => $4) + (i::float8 / $3) * make_interval(days => $4) AS at
    FROM generate_series($1::bigint + 1, $2::bigint) i
), t AS (
    SELECT i, c, x, at, (1000000000 + c)::text AS card,
           CASE WHEN u < 0.45 THEN 'ADD_PRODUCTS' WHEN u < 0.65 THEN 'CANCEL_PRODUCTS'
                WHEN u < 0.75 THEN 'PAIR' WHEN u < 0.80 THEN 'UNPAIR' WHEN u < 0.85 THEN 'RESET_PIN'
                WHEN u < 0.90 THEN 'SET_PIN' ELSE 'RESET_SMARTCARD' END AS type,
           CASE WHEN i % 33 = 0 THEN 'REJECTED' ELSE 'COMPLETED' END AS state,
           at + make_interval(secs => 1 + (i % 600)) AS done
    FROM g
), ins AS (
    INSERT INTO provisioning_requests (type, life_cycle_state, priority, scheduled_date, executed_date,
                                       request, response, reference_number, error_code, error_description,
                                       process_name, process_id, subscription_id, smartcard_ca_id, service_ca_ids,
                                       stb_ca_id, reference, source_file_id, source_line, first_attempt_at,
                                       created_at, updated_at)
    SELECT type, state, CASE WHEN x < 0.01 THEN 'EXPRESS' ELSE 'REGULAR' END, at, done,
           '{"command_id":"' || i || '","type":"' || type || '","smartcard":"' || card || '"}',
           CASE WHEN state = 'REJECTED' THEN '{"command_id":"' || i || '","status":"REJECTED","error_code":"' || (ARRAY['E_UNKNOWN_PRODUCT','E_NOT_PAIRED','E_CARD_BLACKLISTED','E_MAX_ATTEMPTS'])[1 + i % 4] || '"}'
                ELSE '{"command_id":"' || i || '","status":"COMPLETED","reference":"GW-' || i || '"}' END,
           CASE WHEN state = 'COMPLETED' THEN 'GW-' || i END,
           CASE WHEN state = 'REJECTED' THEN (ARRAY['E_UNKNOWN_PRODUCT','E_NOT_PAIRED','E_CARD_BLACKLISTED','E_MAX_ATTEMPTS'])[1 + i % 4] END,
           CASE WHEN state = 'REJECTED' THEN 'rejected by the bench''s history' END,
           'PROVISIONING_REQUEST_PROCESSING_RUN', 1 + i / 20000, $6::bigint + c, card,
           CASE WHEN type IN ('ADD_PRODUCTS', 'CANCEL_PRODUCTS') THEN
                (ARRAY['P-' || (1001 + i % 40), 'P-' || (1001 + (i * 7 + 3) % 40)])[1:1 + i % 2] END,
           CASE WHEN type = 'PAIR' THEN (7700000000 + c)::text END,
           CASE WHEN i % 100 = 7 THEN 'HIST-' || i END,
           CASE WHEN x < 0.7 THEN 1 + floor(extract(epoch FROM at - (now() - make_interval(days => $4))) / 86400)::bigint END,
           CASE WHEN x < 0.7 THEN i END,
           done - interval '1 second', at, done
    FROM t
    ORDER BY i
    RETURNING id, life_cycle_state, process_id, first_attempt_at, executed_date, error_code, number
)
INSERT INTO request_attempts (request_id, process_id, batch_id, command_id, sent_at, answered_at, outcome, http_status, error_code)
SELECT id, process_id, 'hist-' || process_id, number::text, first_attempt_at, executed_date,
       lower(life_cycle_state), 200, error_code
FROM ins`

// importFilesSQL records one import file a day for the $1 days of the history,
// which its requests name (source_file_id 1 to $1).
const importFilesSQL = `
INSERT INTO import_files (name, sha256, state, rows_read, rows_created, started_at, finished_at)
SELECT 'history-day-' || d || '.csv', md5('history-' || d), 'IMPORTED', 0, 0,
       now() - make_interval(days => $1 - d + 1), now() - make_interval(days => $1 - d + 1)
FROM generate_series(1, $1) d`

// fillChunk is how many requests one statement of the fill inserts.
const fillChunk = 500_000

// fill writes a history of n settled requests over days days into db, whose fleet
// has cards smartcards, its pages packed as imports leave them (historyPacking), then
// vacuums and analyses it as autovacuum would have long since done on a history that
// old. progress is told of each chunk.
func fill(ctx context.Context, db *sql.DB, n int64, days, cards int, progress func(string, ...any)) error {
	if _, err := db.ExecContext(ctx, importFilesSQL, days); err != nil {
		return fmt.Errorf("fill import files: %w", err)
	}
	var firstSub int64
	if err := db.QueryRowContext(ctx, `SELECT id - 1 FROM subscriptions WHERE number = 'SUB00000001'`).Scan(&firstSub); err != nil {
		return fmt.Errorf("fill: the fleet's first subscription: %w", err)
	}
	if _, err := db.ExecContext(ctx, "SELECT setseed(0.1616)"); err != nil {
		return err
	}
	// The indexes that no constraint needs are dropped for the fill and built again
	// after it, sorted in one pass each: inserted into row by row, the fill of 10M
	// took four times as long.
	var defs []string
	if n > 0 {
		var err error
		if defs, err = dropIndexes(ctx, db); err != nil {
			return err
		}
	}
	var restore string
	if n > 0 {
		var err error
		if restore, err = packHistory(ctx, db); err != nil {
			return err
		}
	}
	t := time.Now()
	for from := int64(0); from < n; from += fillChunk {
		to := min(from+fillChunk, n)
		if _, err := db.ExecContext(ctx, fillSQL, from, to, n, days, cards, firstSub); err != nil {
			return fmt.Errorf("fill history %d to %d: %w", from+1, to, err)
		}
		progress("history: %d of %d settled requests (%v)", to, n, time.Since(t).Round(time.Second))
	}
	if restore != "" {
		if _, err := db.ExecContext(ctx, restore); err != nil {
			return fmt.Errorf("fill: restore the fillfactor: %w", err)
		}
	}
	for _, def := range defs {
		if _, err := db.ExecContext(ctx, def); err != nil {
			return fmt.Errorf("rebuild an index: %w", err)
		}
	}
	if n > 0 {
		progress("history: indexes rebuilt (%v)", time.Since(t).Round(time.Second))
		// The insert trigger of settled_counts (migration 000020) appended a row for
		// each settled request; the processing run's end sums them into a row per
		// group, as here: unsummed, `status` summed 10 million rows (18 s).
		// Then rewritten: the sums land after the 10 million deleted rows, at the end
		// of the table, which VACUUM cannot truncate (85,000 pages read by status).
		if _, err := db.ExecContext(ctx, provsql.CompactSettledCounts); err != nil {
			return fmt.Errorf("sum the settled counts: %w", err)
		}
		if _, err := db.ExecContext(ctx, "VACUUM FULL settled_counts"); err != nil {
			return fmt.Errorf("rewrite the settled counts: %w", err)
		}
		if _, err := db.ExecContext(ctx, "VACUUM (ANALYZE) provisioning_requests, request_attempts, settled_counts"); err != nil {
			return fmt.Errorf("vacuum the history: %w", err)
		}
		if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return nil
}

// historyPacking is how many points of fillfactor above the table's own the fill
// packs the history's pages with: 5 points are 409 bytes, more than the largest
// history row (about 500 bytes) less the smallest imported request (about 170).
//
// Why: the fill writes each request settled, at its final size, into pages filled to
// the table's fillfactor (70, migration 000007). Each page then ends with its 30%
// reserve and up to a history row's size (about 400 bytes) above it, and VACUUM
// records that in the free space map: 60% of the pages of a fresh 10M fill had room
// above the reserve for exactly one imported request (about 200 bytes). The next
// import's COPY, which takes its pages from the free space map, put 200,000 rows on
// 196,534 pages of the history, one each: a read and a full-page image per row
// (the COPY took 94 s at 10M against 32 s at 0), and the processing run and
// status then read a page per request. A table grown by the importer and the
// processing run has no such pages: the room above the reserve that the
// write-backs leave is taken by the imports that follow (measured: an import after
// an import, a run and a VACUUM put 98% of its rows on pages holding more than 10
// of them). Packed 5 points tighter, no history page has room for a request above
// the table's reserve, and an import lands where it would in production: after the
// history, densely.
const historyPacking = 5

// packHistory sets provisioning_requests' fillfactor historyPacking points above
// its own for the fill, and returns the statement that restores it.
func packHistory(ctx context.Context, db *sql.DB) (string, error) {
	var ff sql.NullInt64
	if err := db.QueryRowContext(ctx, `
		SELECT substring(o FROM 'fillfactor=([0-9]+)')::int
		FROM pg_class c, unnest(c.reloptions) o
		WHERE c.oid = 'provisioning_requests'::regclass AND o LIKE 'fillfactor=%'`).Scan(&ff); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("fill: the requests' fillfactor: %w", err)
	}
	if !ff.Valid || ff.Int64 >= 100 {
		return "", nil // packed full already
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf("ALTER TABLE provisioning_requests SET (fillfactor = %d)", min(100, ff.Int64+historyPacking))); err != nil {
		return "", fmt.Errorf("fill: pack the history: %w", err)
	}
	return fmt.Sprintf("ALTER TABLE provisioning_requests SET (fillfactor = %d)", ff.Int64), nil
}

// dropIndexes drops the indexes of provisioning_requests and request_attempts that
// back no constraint, and returns their definitions.
func dropIndexes(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
		FROM pg_index i
		WHERE i.indrelid IN ('provisioning_requests'::regclass, 'request_attempts'::regclass)
		  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)`)
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	defer rows.Close()
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, err
		}
		names, defs = append(names, name), append(defs, def)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, name := range names {
		if _, err := db.ExecContext(ctx, "DROP INDEX "+name); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", name, err)
		}
	}
	return defs, nil
}
