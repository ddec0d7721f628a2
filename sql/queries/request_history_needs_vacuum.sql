-- Whether provisioning_requests or request_attempts holds more dead rows than
-- 10,000 + 2% of its live ones (the server's cumulative statistics, which count with
-- autovacuum off). Their dead rows are housekeeping's deletions and the write-backs
-- (a write-back changes life_cycle_state, which partial indexes name, so it is never
-- a HOT update: each sent request leaves its old version in the heap and every
-- index). Autovacuum, where it is on, waits for 20% of the table: 2,000,000 rows at
-- 10 million, and until then the card index's dead entries cost every claim a
-- heap visit each and the importer's rows go to new pages (docs/benchmarks.md).
-- The statistics can lag a few seconds: housekeeping vacuums after its own
-- deletions whatever this says.
SELECT coalesce(bool_or(n_dead_tup > 10000 + 0.02 * n_live_tup), false)
FROM pg_stat_user_tables
WHERE relid IN ('provisioning_requests'::regclass, 'request_attempts'::regclass)
