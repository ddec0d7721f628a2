-- What the planner believes: its estimate of the PENDING requests, from the
-- statistics of the last ANALYZE (store.RefreshRequestStats reads "Plan Rows").
EXPLAIN (FORMAT JSON) SELECT 1 FROM provisioning_requests WHERE life_cycle_state = 'PENDING'
