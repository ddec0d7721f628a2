package sql

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"sync"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the migration files, named as golang-migrate expects
// (NNNNNN_title.up.sql / .down.sql).
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the directory is embedded at build time: it is always there
	}
	return sub
}

// Queries. Each is one statement; parameters are documented in its file.
var (
	//go:embed queries/upsert_subscriptions.sql
	UpsertSubscriptions string
	//go:embed queries/upsert_installed_items.sql
	UpsertInstalledItems string
	//go:embed queries/upsert_products.sql
	UpsertProducts string
	//go:embed queries/lookup_items.sql
	LookupItems string
	//go:embed queries/lookup_subscriptions.sql
	LookupSubscriptions string
	//go:embed queries/all_products.sql
	AllProducts string
	//go:embed queries/used_references.sql
	UsedReferences string
	//go:embed queries/imported_by_sha256.sql
	ImportedBySHA256 string
	//go:embed queries/insert_import_file.sql
	InsertImportFile string
	//go:embed queries/finish_import_file.sql
	FinishImportFile string
)

//go:embed queries/schema_version.sql
var SchemaVersion string

// The statements of `provisioner migrate` (store.Migrate), beside the migrations.
var (
	//go:embed queries/migration_lock.sql
	MigrationLock string
	//go:embed queries/migration_lock_key.sql
	MigrationLockKey string
	//go:embed queries/schema_migrations_create.sql
	SchemaMigrationsCreate string
	//go:embed queries/schema_migrations_clear.sql
	SchemaMigrationsClear string
	//go:embed queries/schema_migrations_set.sql
	SchemaMigrationsSet string
)

//go:embed queries/copy_requests.sql
var CopyRequests string

//go:embed queries/file_timeout.sql
var FileTimeout string

// The processing run's statements.
var (
	//go:embed queries/claim_requests.sql
	ClaimRequests string
	//go:embed queries/claim_settings.sql
	ClaimSettings string
	//go:embed queries/claim_request.sql
	ClaimRequest string
	//go:embed queries/write_back.sql
	WriteBack string
	//go:embed queries/release_requests.sql
	ReleaseRequests string
	//go:embed queries/release_leftovers.sql
	ReleaseLeftovers string
	//go:embed queries/start_process.sql
	StartProcess string
	//go:embed queries/finish_process.sql
	FinishProcess string
	//go:embed queries/running_processes_on_host.sql
	RunningProcessesOnHost string
	//go:embed queries/mark_dead_processes.sql
	MarkDeadProcesses string
	//go:embed queries/release_dead_runs.sql
	ReleaseDeadRuns string
	//go:embed queries/request_attempts.sql
	RequestAttempts string
)

// Live instances (package instances).
var (
	//go:embed queries/instance_start.sql
	InstanceStart string
	//go:embed queries/instance_beat.sql
	InstanceBeat string
	//go:embed queries/instance_stop.sql
	InstanceStop string
	//go:embed queries/list_instances.sql
	ListInstances string
	//go:embed queries/housekeeping_delete_instances.sql
	HousekeepingDeleteInstances string
)

// The reference loader's checks before an upsert.
var (
	//go:embed queries/item_conflicts.sql
	ItemConflicts string
	//go:embed queries/product_conflicts.sql
	ProductConflicts string
)

// The reference loader's entitlements.csv (reference/entitlements.go).
var (
	//go:embed queries/item_ids_by_serial.sql
	ItemIDsBySerial string
	//go:embed queries/clear_entitlements.sql
	ClearEntitlements string
	//go:embed queries/insert_entitlements.sql
	InsertEntitlements string
)

//go:embed queries/analyze_reference.sql
var AnalyzeReference string

// The planner statistics of the requests (store.RefreshRequestStats).
var (
	//go:embed queries/pending_estimate.sql
	PendingEstimate string
	//go:embed queries/pending_count.sql
	PendingCount string
	//go:embed queries/stats_lock.sql
	StatsLock string
	//go:embed queries/analyze_requests.sql
	AnalyzeRequests string
	//go:embed queries/savepoint.sql
	Savepoint string
	//go:embed queries/savepoint_release.sql
	SavepointRelease string
	//go:embed queries/savepoint_rollback.sql
	SavepointRollback string
)

// The importer's preload of the installed items.
var (
	//go:embed queries/all_items.sql
	AllItems string
	//go:embed queries/count_items.sql
	CountItems string
)

// The Web API's statements.
var (
	//go:embed queries/insert_requests.sql
	insertRequests string
	//go:embed queries/lookup_item_keys.sql
	LookupItemKeys string
	//go:embed queries/lookup_subscription_ids.sql
	LookupSubscriptionIDs string
	//go:embed queries/lookup_products.sql
	LookupProducts string
	//go:embed queries/insert_api_token.sql
	InsertAPIToken string
	//go:embed queries/revoke_api_token.sql
	RevokeAPIToken string
	//go:embed queries/list_api_tokens.sql
	ListAPITokens string
	//go:embed queries/api_token_by_hash.sql
	APITokenByHash string
)

// The scheduler's run ledger (jobs/ledger.go) and the housekeeping job.
var (
	//go:embed queries/job_run_start.sql
	JobRunStart string
	//go:embed queries/job_lock.sql
	JobLock string
	//go:embed queries/job_unlock.sql
	JobUnlock string
	//go:embed queries/job_lock_renew.sql
	JobLockRenew string
	//go:embed queries/job_lock_holders.sql
	JobLockHolders string
	//go:embed queries/job_lock_sweeping.sql
	JobLockSweeping string
	//go:embed queries/job_run_holder.sql
	JobRunHolder string
	//go:embed queries/job_run_finish.sql
	JobRunFinish string
	//go:embed queries/job_runs_abandon.sql
	JobRunsAbandon string
	//go:embed queries/job_run_last_tick.sql
	JobRunLastTick string
	//go:embed queries/housekeeping_delete_requests.sql
	HousekeepingDeleteRequests string
	//go:embed queries/processing_run_at_work.sql
	ProcessingRunAtWork string
	//go:embed queries/compact_settled_counts.sql
	CompactSettledCounts string
	//go:embed queries/vacuum_queue_tables.sql
	VacuumQueueTables string
	//go:embed queries/pending_queue_sparse.sql
	PendingQueueSparse string
	//go:embed queries/compact_pending_queue.sql
	CompactPendingQueue string
	//go:embed queries/request_history_needs_vacuum.sql
	RequestHistoryNeedsVacuum string
	//go:embed queries/vacuum_request_history.sql
	VacuumRequestHistory string
	//go:embed queries/housekeeping_delete_job_runs.sql
	HousekeepingDeleteJobRuns string
	//go:embed queries/housekeeping_delete_processes.sql
	HousekeepingDeleteProcesses string
	//go:embed queries/housekeeping_stale_processes.sql
	HousekeepingStaleProcesses string
)

// The operator's commands (status, requests list|show|retry), the metrics, and the
// Web API's show and list (filter_requests, count_requests).
var (
	//go:embed queries/filter_requests.sql
	FilterRequests string
	//go:embed queries/count_requests.sql
	countRequests string
	//go:embed queries/filter_constants.sql
	FilterConstants string
	//go:embed queries/retry_requests.sql
	RetryRequests string
	//go:embed queries/queue_counts.sql
	QueueCounts string
	//go:embed queries/oldest_pending.sql
	OldestPending string
	//go:embed queries/status_no_jit.sql
	StatusNoJIT string
	//go:embed queries/card_queue_head.sql
	CardQueueHead string
	//go:embed queries/last_job_runs.sql
	LastJobRuns string
	//go:embed queries/job_last_success.sql
	JobLastSuccess string
	//go:embed queries/last_processing_run.sql
	LastProcessingRun string
	//go:embed queries/last_import.sql
	LastImport string
	//go:embed queries/top_errors.sql
	TopErrors string
)

// The operator's levers on requests (ops/levers.go), pauses (ops/pause.go) and the
// audit trail (ops/audit.go).
var (
	//go:embed queries/lever_lock.sql
	LeverLock string
	//go:embed queries/lever_skipped.sql
	LeverSkipped string
	//go:embed queries/lever_hold.sql
	LeverHold string
	//go:embed queries/lever_release.sql
	LeverRelease string
	//go:embed queries/lever_cancel.sql
	LeverCancel string
	//go:embed queries/lever_reschedule.sql
	LeverReschedule string
	//go:embed queries/lever_priority.sql
	LeverPriority string
	//go:embed queries/lever_dry_run.sql
	leverDryRun string
	//go:embed queries/pause.sql
	Pause string
	//go:embed queries/resume.sql
	Resume string
	//go:embed queries/paused.sql
	Paused string
	//go:embed queries/pause_of.sql
	PauseOf string
	//go:embed queries/insert_audit.sql
	InsertAudit string
	//go:embed queries/list_audit.sql
	ListAudit string
)

// Reconciliation runs (package reconcile) and their record.
var (
	//go:embed queries/reconcile_cards.sql
	ReconcileCards string
	//go:embed queries/reconcile_cursor.sql
	ReconcileCursor string
	//go:embed queries/reconcile_fetch.sql
	ReconcileFetch string
	//go:embed queries/reconcile_lookup.sql
	ReconcileLookup string
	//go:embed queries/pending_cards.sql
	PendingCards string
	//go:embed queries/reconcile_scope_subscription.sql
	ReconcileScopeSubscription string
	//go:embed queries/reconcile_scope_smartcards.sql
	ReconcileScopeSmartcards string
	//go:embed queries/reconcile_run_start.sql
	ReconcileRunStart string
	//go:embed queries/reconcile_run_finish.sql
	ReconcileRunFinish string
	//go:embed queries/insert_corrections.sql
	InsertCorrections string
	//go:embed queries/last_reconcile_runs.sql
	LastReconcileRuns string
)

// The operator console (package console): its operators, their sessions, and the
// capped count of its Requests page.
var (
	//go:embed queries/count_requests_capped.sql
	countRequestsCapped string
	//go:embed queries/settled_count.sql
	SettledCount string
	//go:embed queries/operator_insert.sql
	OperatorInsert string
	//go:embed queries/operator_list.sql
	OperatorList string
	//go:embed queries/operator_by_name.sql
	OperatorByName string
	//go:embed queries/operator_disable.sql
	OperatorDisable string
	//go:embed queries/operator_password.sql
	OperatorPassword string
	//go:embed queries/operator_signin_failed.sql
	OperatorSigninFailed string
	//go:embed queries/operator_signin_ok.sql
	OperatorSigninOK string
	//go:embed queries/session_insert.sql
	SessionInsert string
	//go:embed queries/session_touch.sql
	SessionTouch string
	//go:embed queries/session_delete.sql
	SessionDelete string
)

// The console's other pages: the overview's chart, the Runs and Files pages.
var (
	//go:embed queries/settled_per_minute.sql
	SettledPerMinute string
	//go:embed queries/settled_per_minute_memory.sql
	SettledPerMinuteMemory string
	//go:embed queries/list_processes.sql
	ListProcesses string
	//go:embed queries/list_job_runs.sql
	ListJobRuns string
	//go:embed queries/list_import_files.sql
	ListImportFiles string
)

// CountRequests (count_requests.sql) and CountRequestsCapped
// (count_requests_capped.sql) count what FilterRequests lists: their WHERE clause
// is FilterRequests', put in place of their {{filter}}, so that the filter has one
// text.
var (
	CountRequests       = withFilter(countRequests)
	CountRequestsCapped = withFilter(countRequestsCapped)
	// LeverDryRun (lever_dry_run.sql) counts the PENDING requests a lever would
	// take, as Pull lists them: the same WHERE clause.
	LeverDryRun = withFilter(leverDryRun)
)

func withFilter(q string) string {
	w := FilterRequests
	i := strings.Index(w, "WHERE (")
	j := strings.Index(w, "\n    ORDER BY")
	if i < 0 || j < i {
		panic("sql: filter_requests.sql changed: its WHERE clause")
	}
	if strings.Count(q, "WHERE {{filter}}") != 1 {
		panic("sql: a count query lacks its WHERE {{filter}}")
	}
	return strings.Replace(q, "WHERE {{filter}}", w[i:j], 1)
}

// FilterRequestsNewest is FilterRequests newest first: in descending number order
// (the order of creation), $15 then keeping the numbers before it (keyset paging
// backwards). Derived from FilterRequests so that the filter has one text.
var FilterRequestsNewest = newest(FilterRequests)

func newest(q string) string {
	for _, r := range [][2]string{
		{"OR r.number > $15::bigint)", "OR r.number < $15::bigint)"},
		{"THEN r.number ELSE r.number + 0 END\n    LIMIT", "THEN r.number ELSE r.number + 0 END DESC\n    LIMIT"},
	} {
		if strings.Count(q, r[0]) != 1 {
			panic("sql: filter_requests.sql changed: " + r[0])
		}
		q = strings.Replace(q, r[0], r[1], 1)
	}
	if !strings.HasSuffix(strings.TrimSpace(q), "ORDER BY r.number") {
		panic("sql: filter_requests.sql changed: its last ORDER BY")
	}
	return strings.TrimSpace(q) + " DESC\n"
}

// FilterRequestsExecuted is FilterRequests in the order of settlement: by
// executed_date, then number, oldest first; FilterRequestsExecutedNewest is its
// reverse. Only settled requests have an executed_date: the PENDING ones are left
// out. The keyset position is the pair ($21 the executed_date, $15 the number) of
// the last row shown, compared as a row: the walk of
// provisioning_requests_executed (executed_date, number) starts right after it
// and stops at the limit, where number order has to sort every settled request of
// the range (111,000 for a day at 10 million: 180-400 ms). Derived from
// FilterRequests so that the filter has one text.
var (
	FilterRequestsExecuted       = byExecuted(FilterRequests, "")
	FilterRequestsExecutedNewest = byExecuted(FilterRequests, " DESC")
)

func byExecuted(q, dir string) string {
	cmp := ">"
	if dir != "" {
		cmp = "<"
	}
	for _, r := range [][2]string{
		{"OR r.number > $15::bigint)", "OR (r.executed_date, r.number) " + cmp + " ($21::timestamptz, $15::bigint))\n      AND r.executed_date IS NOT NULL"},
		{"ORDER BY CASE WHEN $10::timestamptz IS NULL AND $5::text[] IS NULL AND $6::bigint IS NULL THEN r.number ELSE r.number + 0 END\n    LIMIT",
			"ORDER BY r.executed_date" + dir + ", r.number" + dir + "\n    LIMIT"},
	} {
		if strings.Count(q, r[0]) != 1 {
			panic("sql: filter_requests.sql changed: " + r[0])
		}
		q = strings.Replace(q, r[0], r[1], 1)
	}
	q = strings.TrimSpace(q)
	if !strings.HasSuffix(q, "ORDER BY r.number") {
		panic("sql: filter_requests.sql changed: its last ORDER BY")
	}
	return "-- filter_requests.sql by settlement time (sql.FilterRequestsExecuted" + strings.TrimSpace(strings.ReplaceAll(dir, " DESC", "Newest")) +
		"): (executed_date, number) for the number order and position below.\n" +
		strings.TrimSuffix(q, "ORDER BY r.number") + "ORDER BY r.executed_date" + dir + ", r.number" + dir + "\n"
}

// insertRequestsTypes are the types of the columns of a row of insert_requests.sql's
// {{values}}: the call's key, the importer's columns, the token's SHA-256.
var insertRequestsTypes = []string{"bigint", "text", "text", "timestamptz", "boolean", "bigint",
	"text", "text[]", "text", "text", "text", "text"}

// InsertRequestsColumns is how many values each row of InsertRequests takes.
var InsertRequestsColumns = len(insertRequestsTypes)

// InsertRequests is insert_requests.sql for rows requests: its {{values}} replaced by
// that many rows of parameters, each cast to its column's type ($1 to $12 the
// first row's, and so on). Each size is built once.
func InsertRequests(rows int) string {
	if q, ok := insertRequestsBySize.Load(rows); ok {
		return q.(string)
	}
	q := insertRequestsOf(rows)
	insertRequestsBySize.Store(rows, q)
	return q
}

var insertRequestsBySize sync.Map // int: string

func insertRequestsOf(rows int) string {
	if rows < 1 {
		panic("sql: InsertRequests of no rows")
	}
	if strings.Count(insertRequests, "{{values}}") != 1 {
		panic("sql: insert_requests.sql lacks its {{values}}")
	}
	var b strings.Builder
	n := 0
	for i := range rows {
		if i > 0 {
			b.WriteString(",\n           ")
		}
		b.WriteByte('(')
		for j, t := range insertRequestsTypes {
			if j > 0 {
				b.WriteString(", ")
			}
			n++
			fmt.Fprintf(&b, "$%d::%s", n, t)
		}
		b.WriteByte(')')
	}
	return strings.Replace(insertRequests, "{{values}}", b.String(), 1)
}
