-- The Requests page's error code filters at ten million requests (issue 13;
-- docs/benchmarks.md, `make bench-console`).
--
-- An error code with a state (REJECTED and E_BUSY: the common case of a retry) was
-- read through one index and checked in the table row by row: 60,000 rows fetched at
-- random to count 10,001 (seconds). With the state in the error code's index, the
-- walk of a code in number order reads the index alone. This replaces migration
-- 000018's provisioning_requests_error_code: the same rows (those with an error
-- code), so the write-back makes no more entries than it did; the update that gives a
-- request its error code already changes its state or its attempt, neither of which
-- is HOT (the state is in the claim's predicates).
CREATE INDEX IF NOT EXISTS provisioning_requests_error_code_state ON provisioning_requests (error_code, number)
    INCLUDE (life_cycle_state) WHERE error_code IS NOT NULL;
DROP INDEX IF EXISTS provisioning_requests_error_code;

-- The planner multiplied the selectivities of a state and an error code as if they
-- were independent (REJECTED 3% times E_BUSY 1.2%: 3,400 rows expected, 48,000 there),
-- and chose plans that read every match before the count's cap. Their common values
-- together (MCV statistics, taken by ANALYZE; no cost to writes) tell it the truth.
CREATE STATISTICS IF NOT EXISTS provisioning_requests_state_code (mcv) ON life_cycle_state, error_code
    FROM provisioning_requests;
-- Taken now (a sample of 30,000 rows: seconds), not at autovacuum's next analyse.
ANALYZE provisioning_requests;
