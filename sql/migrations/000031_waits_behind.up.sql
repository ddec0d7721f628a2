-- The claim walks no request that waits behind another of its card (issue 16, part 3).
-- Only a card's first PENDING request (its head) may be sent; the claim read the
-- PENDING requests in claim order from provisioning_requests_claim_due and tested each
-- one's headship on its row and its card's queue. Every request due but waiting
-- behind a head that is not (scheduled later, held, backing off) or that is in flight
-- was read again by every claim: two heap reads each (its row, its head's), some
-- 45,000 requests a claim on the historybench queue, which at ten million settled
-- requests mostly miss shared_buffers (docs/benchmarks.md, "Cost as history grows").
--
-- waits_behind: true when the request waits behind an earlier PENDING request of its
-- card. The claim index below holds only the requests without it; the claim still
-- tests headship, so a request marked false that is not the head costs a walk step and
-- no more. The rule has one home, docs/processing-run.md ("Order"): the mark is only
-- ever set where it is sure to be true (the importer, for a row behind an earlier row
-- of the same card in the same file: both commit together; this migration), and the
-- request right after every request that leaves PENDING loses it (write_back.sql,
-- lever_cancel.sql), as does a request that comes back to PENDING (retry_requests.sql).
-- So a marked request always has an earlier PENDING request on its card, and the head
-- is never marked.
--
-- A column with a constant default: added without rewriting the table.
ALTER TABLE provisioning_requests ADD COLUMN waits_behind boolean NOT NULL DEFAULT false;

-- provisioning_requests_claim_due (migration 000026) without the waiting requests. It
-- holds PENDING requests only, but is built from a scan of the table (about two
-- minutes at ten million requests, holding off writes). To avoid that, create it
-- beforehand with CREATE INDEX CONCURRENTLY under the same name and definition (after
-- the column exists): IF NOT EXISTS then skips it.
CREATE INDEX IF NOT EXISTS provisioning_requests_claim_next
    ON provisioning_requests ((priority = 'REGULAR'), sequence_number, greatest(scheduled_date, next_attempt_at))
    WHERE life_cycle_state = 'PENDING' AND NOT waits_behind;
-- The PENDING requests of existing databases that wait behind another, marked after
-- the index is built: marked before, their updates are HOT (the column is in no index
-- yet), and a build that meets HOT-updated rows of its own transaction (or rows
-- updated so recently that another transaction may still see the old version) flags
-- the index (pg_index.indcheckxmin): no transaction whose snapshot is older may use
-- it. While any transaction of the server that was running at the migration lasts
-- (another database's work; this table's own wait for the ALTER's lock), the claim
-- would have no index to walk and would read the whole table (measured on a copy at
-- 200,000 rows under other databases' long COPYs: a sequential scan, 376,374 rows
-- thrown away, 5 s for a claim of 800). (store TestWaitsBehindMigration)
UPDATE provisioning_requests r
SET waits_behind = true
WHERE r.life_cycle_state = 'PENDING'
  AND EXISTS (SELECT FROM provisioning_requests p
              WHERE p.smartcard_ca_id = r.smartcard_ca_id AND p.life_cycle_state = 'PENDING'
                AND p.sequence_number < r.sequence_number);

DROP INDEX IF EXISTS provisioning_requests_claim_due;
