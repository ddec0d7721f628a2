package consolebench

import (
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"strings"
	"time"
)

//go:embed fill.sql
var fillSQL string

// statement is the fill.sql statement after the line "-- name: NAME".
func statement(name string) string {
	_, rest, _ := strings.Cut(fillSQL, "-- name: "+name+"\n")
	body, _, _ := strings.Cut(rest, "-- name: ")
	return body
}

// Files is how many import files the requests came from.
const Files = 2000

// fill writes the bench's data and returns how long it took: the reference data,
// then the requests a million at a time with the table's secondary indexes dropped,
// then the indexes built again and the statistics taken (ANALYZE) and the visibility
// map set (VACUUM), as autovacuum would have on a live database.
func fill(ctx context.Context, cfg Config, dsn string) (time.Duration, error) {
	start := time.Now()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(2)
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	exec := func(what, q string, args ...any) error {
		t := time.Now()
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("fill: %s: %w", what, err)
		}
		cfg.logf("%s: %s", what, time.Since(t).Round(time.Millisecond))
		return nil
	}
	now := time.Now()
	subs := cfg.Cards / 2
	if err := exec("settings", "SET maintenance_work_mem = '512MB'; SET synchronous_commit = off"); err != nil {
		return 0, err
	}
	for _, st := range []struct {
		name string
		args []any
	}{{"subscriptions", []any{subs}}, {"smartcards", []any{subs, cfg.Cards}}, {"files", []any{now, Files}}, {"tokens", []any{now}}} {
		if err := exec(st.name, statement(st.name), st.args...); err != nil {
			return 0, err
		}
	}

	// The secondary indexes are dropped while the rows go in, and built again after:
	// a sort each instead of 10 million random insertions each.
	rows, err := conn.QueryContext(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE tablename = 'provisioning_requests' AND indexname NOT IN
		(SELECT conname FROM pg_constraint WHERE conrelid = 'provisioning_requests'::regclass)`)
	if err != nil {
		return 0, err
	}
	var names, defs []string
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			return 0, err
		}
		names, defs = append(names, n), append(defs, d)
	}
	rows.Close()
	for _, n := range names {
		if err := exec("drop index "+n, "DROP INDEX "+n); err != nil {
			return 0, err
		}
	}
	if err := exec("disable triggers", "ALTER TABLE provisioning_requests DISABLE TRIGGER USER"); err != nil {
		return 0, err
	}
	settled := cfg.Requests * 95 / 100
	q := statement("requests")
	const chunk = 1_000_000
	for from := int64(1); from <= cfg.Requests; from += chunk {
		to := min(from+chunk-1, cfg.Requests)
		if err := exec(fmt.Sprintf("requests %d-%d", from, to), q, from, to, cfg.Requests, now, settled, cfg.Cards, subs, Files); err != nil {
			return 0, err
		}
	}
	for i, d := range defs {
		if err := exec("create index "+names[i], d); err != nil {
			return 0, err
		}
	}
	// What the triggers would have counted, and the other pages' tables.
	for _, st := range []struct {
		name string
		args []any
	}{{"settled_counts", nil}, {"rejected_counts", nil}, {"pending_queue", nil}, {"processes", []any{now}}, {"job_runs", []any{now}}, {"audit_log", []any{now}}} {
		if err := exec(st.name, statement(st.name), st.args...); err != nil {
			return 0, err
		}
	}
	for _, s := range []string{
		"ALTER TABLE provisioning_requests ENABLE TRIGGER USER",
		fmt.Sprintf("SELECT setval('provisioning_request_number_seq', %d), setval('provisioning_request_sequence_seq', %d)", cfg.Requests, cfg.Requests),
		"VACUUM ANALYZE provisioning_requests",
		"VACUUM ANALYZE installed_items",
		"VACUUM ANALYZE subscriptions",
		"VACUUM ANALYZE import_files",
		"VACUUM ANALYZE processes",
		"VACUUM ANALYZE job_runs",
		"VACUUM ANALYZE audit_log",
		"VACUUM ANALYZE settled_counts",
		"VACUUM ANALYZE pending_queue",
		fmt.Sprintf("CREATE TABLE consolebench_filled AS SELECT %d::bigint AS requests", cfg.Requests),
	} {
		if err := exec(strings.Fields(s)[0]+" "+strings.Fields(s)[1], s); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
