-- The operator's reads stay flat as settled history grows (issue 16, part 3): each
-- filter of `requests list` (sql/queries/filter_requests.sql) reaches its rows
-- through an index instead of a scan of the table, which at 10 million settled
-- requests took seconds. Measured by `make bench` (scripts/bench-history.sh,
-- docs/benchmarks.md).
--
-- On a large history each CREATE INDEX holds off writes while it builds (minutes at
-- 10 million rows). To avoid that, create them beforehand with CREATE INDEX
-- CONCURRENTLY under the same names and definitions: IF NOT EXISTS then skips them.
--
-- A card's and a subscription's requests, in number order (--smartcard,
-- --subscription): every state, unlike provisioning_requests_card_queue (PENDING).
-- Made by migration 000018 (provisioning_requests_smartcard and _subscription, the
-- console's), the same for these filters.
-- The REJECTED requests in number order (--state REJECTED): a few among millions
-- settled. New numbers go to the right edge: cheap to maintain. Not so the
-- PENDING ones: a third partial index on PENDING rows gave the planner, on
-- statistics that predate an import, a wrong choice for the claim's heads
-- (seconds per claim, measured at 1M settled); --state PENDING is served by the
-- claim's index and a sort of the queue instead.
CREATE INDEX IF NOT EXISTS provisioning_requests_rejected_number ON provisioning_requests (number)
    WHERE life_cycle_state = 'REJECTED';
-- Created and settled in a time range (--created-since/until, --executed-since/
-- until); the second is also housekeeping's way to the oldest settled requests
-- (housekeeping_delete_requests.sql), which scanned the table from its start for
-- every slice. Both times grow with the number: appended at the right edge.
-- With the number, so that a page of a range is chosen from the index alone
-- (filter_requests.sql).
CREATE INDEX IF NOT EXISTS provisioning_requests_created ON provisioning_requests (created_at, number);
-- It also serves the console's chart (settled_per_minute.sql) from the index alone,
-- with life_cycle_state included, so migration 000017's provisioning_requests_settled
-- goes: the same settled rows by the same date, one more entry for every write-back
-- to make (docs/benchmarks.md: each index costs the processing run).
CREATE INDEX IF NOT EXISTS provisioning_requests_executed ON provisioning_requests (executed_date, number)
    INCLUDE (life_cycle_state) WHERE executed_date IS NOT NULL;
DROP INDEX IF EXISTS provisioning_requests_settled;
