-- The claim's walk skips the requests that are not due, in the index (issue 16, part
-- 3). The claim reads the PENDING requests in claim order (EXPRESS first, then by
-- sequence number: sql/queries/claim_requests.sql) and used to read each one's row
-- to test whether it was due, so that every claim read again every request scheduled
-- later or waiting for a retry that lay ahead of the first due one: tens of thousands
-- a claim when files with future dates pile up, each a heap fetch that on a table of
-- 10 million requests mostly misses the cache (docs/benchmarks.md, "Cost as history
-- grows").
--
-- The same index with the time a request is due, greatest(scheduled_date,
-- next_attempt_at) (greatest() passes over a NULL next_attempt_at), as a last key
-- column: the claim's "greatest(...) <= now()" is then an index condition, which a
-- btree tests on each entry before it reads the row, whatever column it is on. As the
-- last column it changes no order (sequence numbers are unique). The claim's own
-- update (claimed_by, lease_expires_at) names none of these columns: it stays a HOT
-- update.
--
-- It holds PENDING requests only: built from a scan of the table (about two minutes
-- at 10 million requests, holding off writes). To avoid that, create it beforehand
-- with CREATE INDEX CONCURRENTLY under the same name and definition: IF NOT EXISTS
-- then skips it.
CREATE INDEX IF NOT EXISTS provisioning_requests_claim_due
    ON provisioning_requests ((priority = 'REGULAR'), sequence_number, greatest(scheduled_date, next_attempt_at))
    WHERE life_cycle_state = 'PENDING';
DROP INDEX IF EXISTS provisioning_requests_claim;
