-- $1 scope, $2 dry run, $3 host, $4 pid.
INSERT INTO reconcile_runs (scope, dry_run, host, pid) VALUES ($1, $2, $3, $4) RETURNING id
