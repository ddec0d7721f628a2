package ops

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// The histories the console pages through: processing runs, the run ledger and the
// imported files, newest first, by keyset (the id before which to start: 0 for the
// newest), so that the hundredth page costs what the first does.

// ProcessingRuns returns the processing runs before id before (0: from the
// newest), newest first, at most limit.
func ProcessingRuns(ctx context.Context, db *store.DB, before int64, limit int) ([]ProcessingRun, error) {
	var runs []ProcessingRun
	if err := db.SelectContext(ctx, &runs, provsql.ListProcesses, provisioning.ProcessName, before, limit); err != nil {
		return nil, fmt.Errorf("list processing runs: %w", err)
	}
	for i := range runs {
		runs[i].StartedAt = runs[i].StartedAt.UTC()
		utc(&runs[i].FinishedAt)
	}
	return runs, nil
}

// LedgerRun is one run of a job as the run ledger (job_runs) records it.
type LedgerRun struct {
	ID         int64           `db:"id"`
	Job        string          `db:"job"`
	Tick       time.Time       `db:"tick"`
	Trigger    string          `db:"trigger"`
	Instance   string          `db:"instance"`
	State      string          `db:"state"`
	StartedAt  time.Time       `db:"started_at"`
	FinishedAt *time.Time      `db:"finished_at"`
	Counts     json.RawMessage `db:"counts"`
	Error      string          `db:"error"`
}

// Duration is how long the run took; 0 while it runs.
func (r LedgerRun) Duration() time.Duration {
	if r.FinishedAt == nil {
		return 0
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// JobLedger returns the runs of job ("" for every job) before id before (0: from
// the newest), newest first, at most limit.
func JobLedger(ctx context.Context, db *store.DB, job string, before int64, limit int) ([]LedgerRun, error) {
	var runs []LedgerRun
	if err := db.SelectContext(ctx, &runs, provsql.ListJobRuns, job, before, limit); err != nil {
		return nil, fmt.Errorf("list job runs: %w", err)
	}
	for i := range runs {
		r := &runs[i]
		r.Tick, r.StartedAt = r.Tick.UTC(), r.StartedAt.UTC()
		utc(&r.FinishedAt)
	}
	return runs, nil
}

// ImportFiles returns the import records in state ("" for any) before id before
// (0: from the newest), newest first, at most limit.
func ImportFiles(ctx context.Context, db *store.DB, state string, before int64, limit int) ([]ImportedFile, error) {
	return importFiles(ctx, db, state, before, limit, 0)
}

// ImportFileByID returns one import record; ok false when no file has id.
func ImportFileByID(ctx context.Context, db *store.DB, id int64) (ImportedFile, bool, error) {
	fs, err := importFiles(ctx, db, "", 0, 1, id)
	if err != nil || len(fs) == 0 {
		return ImportedFile{}, false, err
	}
	return fs[0], true, nil
}

func importFiles(ctx context.Context, db *store.DB, state string, before int64, limit int, id int64) ([]ImportedFile, error) {
	var fs []ImportedFile
	if err := db.SelectContext(ctx, &fs, provsql.ListImportFiles, state, before, limit, id); err != nil {
		return nil, fmt.Errorf("list import files: %w", err)
	}
	for i := range fs {
		fs[i].StartedAt, fs[i].FinishedAt = fs[i].StartedAt.UTC(), fs[i].FinishedAt.UTC()
	}
	return fs, nil
}

// Settled is how many requests were completed and rejected in one minute.
type Settled struct {
	Minute    time.Time `db:"minute"`
	Completed int64     `db:"completed"`
	Rejected  int64     `db:"rejected"`
}

// SettledPerMinute returns the requests settled in each minute from since to until,
// every minute listed (0 for none), oldest first: one statement, bucketed in the
// database over an index (migration 000019), whatever the size of the table.
func SettledPerMinute(ctx context.Context, db *store.DB, since, until time.Time) ([]Settled, error) {
	since, until = since.UTC().Truncate(time.Minute), until.UTC()
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("settled per minute: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, provsql.SettledPerMinuteMemory); err != nil {
		return nil, fmt.Errorf("settled per minute: %w", err)
	}
	var rows []Settled
	if err := tx.SelectContext(ctx, &rows, provsql.SettledPerMinute, since, until); err != nil {
		return nil, fmt.Errorf("settled per minute: %w", err)
	}
	got := make(map[time.Time]Settled, len(rows))
	for _, r := range rows {
		got[r.Minute.UTC()] = r
	}
	var out []Settled
	for m := since; m.Before(until); m = m.Add(time.Minute) {
		s := got[m]
		s.Minute = m
		out = append(out, s)
	}
	return out, nil
}

// ImportedBySHA256 returns the import that brought in this content (hex SHA-256),
// nil when none did: the importer would take a file of it as a duplicate.
func ImportedBySHA256(ctx context.Context, db *store.DB, sum string) (*ImportedFile, error) {
	var fs []ImportedFile
	if err := db.SelectContext(ctx, &fs, provsql.ImportedBySHA256, sum); err != nil {
		return nil, fmt.Errorf("import of %s: %w", sum, err)
	}
	if len(fs) == 0 {
		return nil, nil
	}
	return &fs[0], nil
}

// Duration is how long the run took; 0 while it runs.
func (r ProcessingRun) Duration() time.Duration {
	if r.FinishedAt == nil {
		return 0
	}
	return r.FinishedAt.Sub(r.StartedAt)
}
