-- The console's Requests page at ten million requests (issue 13; the figures:
-- docs/benchmarks.md, `make bench-console`). The page lists 50 requests of a filter
-- in number order (keyset paging) and counts them up to 10,000. Without an index
-- that leads with the filter's column, PostgreSQL walks the number index from the
-- start and throws away every request that does not match: seconds when the matches
-- are rare or all at the end (the PENDING ones are the newest), and the capped count
-- reads the whole table when fewer than 10,000 match. Each index here ends with
-- number, so that a filter's page is a range of it, in order.
--
-- What they cost the processing run: the write-back of a request is not a HOT update
-- (it changes life_cycle_state, which the claim's partial indexes name), so it
-- already adds an entry to every index of the table; each index below that holds
-- every request (smartcard, subscription, created_at; the file's replaces one) adds
-- one more, and executed_date's holds every settled one. The other partial ones hold
-- only what the page asks for: the EXPRESS requests, those with an error code.
-- Measured (docs/benchmarks.md): 5% more CPU per request in the processing run. The claim itself
-- (claimed_by, lease_expires_at, in no index) stays a HOT update.

-- smartcard (CA id, or a serial number resolved to it), subscription.
CREATE INDEX provisioning_requests_smartcard ON provisioning_requests (smartcard_ca_id, number);
CREATE INDEX provisioning_requests_subscription ON provisioning_requests (subscription_id, number);
-- file: the same column as provisioning_requests_source_file, which it replaces,
-- with the page's order.
CREATE INDEX provisioning_requests_source_file_number ON provisioning_requests (source_file_id, number);
DROP INDEX provisioning_requests_source_file;
-- priority=EXPRESS, error_code. Not state=PENDING: an index of the PENDING
-- requests by number alone was taken by the claim for its card-queue probes instead
-- of provisioning_requests_card_queue when the statistics predate an import (the
-- plans issue 15 fixed; dispatcher TestStaleStatisticsShapes timed out): a probe
-- then read every PENDING request.
CREATE INDEX provisioning_requests_express_number ON provisioning_requests (number) WHERE priority = 'EXPRESS';
CREATE INDEX provisioning_requests_error_code ON provisioning_requests (error_code, number) WHERE error_code IS NOT NULL;
-- created and executed since/until: migration 000019's provisioning_requests_created
-- and provisioning_requests_executed, which end with number too.
