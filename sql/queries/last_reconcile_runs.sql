-- The last $1 reconciliation runs, newest first: `provisioner status` and the metrics.
SELECT id, scope, dry_run, state, checked, in_sync, drifted, missing_products, extra_products,
       wrong_pairing, missing_pairing, extra_pairing, busy, unknown, disabled, uncorrectable,
       corrections, coalesce(report, '') AS report, coalesce(error, '') AS error,
       started_at, finished_at
FROM reconcile_runs ORDER BY started_at DESC, id DESC LIMIT $1
