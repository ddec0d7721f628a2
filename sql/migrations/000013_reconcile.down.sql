DROP INDEX IF EXISTS provisioning_requests_source_reconcile_run;
ALTER TABLE provisioning_requests DROP COLUMN IF EXISTS source_reconcile_run_id;
DROP TABLE IF EXISTS reconcile_runs;
DROP TABLE IF EXISTS entitlements;
