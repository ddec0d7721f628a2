-- The REJECTED requests by number with their error code and creation time, read
-- from the index alone: the console's Requests page of REJECTED E_BUSY created in
-- the last 7 days (a retry's usual filter; docs/benchmarks.md, `make
-- bench-console`). It replaces migration 000019's provisioning_requests_rejected_number,
-- the same rows by the same key.
--
-- Why: a created range is turned into number bounds (filter_constants.sql), and
-- the REJECTED requests between them were walked through 000019's index, each
-- fetched from the table to test its error code and creation time. One in 33
-- requests is REJECTED, so each sits on a table page of its own: at 10 million
-- requests the capped count read 8,655 REJECTED rows from 8,100 pages to find
-- 1,395 (336 ms cold, 95 / 109 ms p50 / p95 warm). With the two columns in the
-- index the count reads 57 index pages and no table row (19 ms cold).
--
-- Cost: no entry more than before (the same REJECTED rows: the write-back that
-- rejects a request already adds one to 000019's index), each 16 bytes wider: 14 MB
-- in place of 6 MB at 10 million requests. The write-back that completes a request
-- adds none. Building it reads the table once (10 s at 10 million requests).
CREATE INDEX IF NOT EXISTS provisioning_requests_rejected_code_created ON provisioning_requests (number)
    INCLUDE (error_code, created_at) WHERE life_cycle_state = 'REJECTED';
DROP INDEX IF EXISTS provisioning_requests_rejected_number;
