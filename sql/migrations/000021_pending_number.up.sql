-- The PENDING requests by number (the console's Requests page and `requests list
-- --state PENDING`, sql/queries/filter_requests.sql): they are the newest, last in
-- number order, so that a walk of the number index for them passed every settled
-- request first (9.5 million of 10 million: seconds), and reading them all through
-- the claim's indexes to sort them took as long with half a million waiting.
--
-- It holds PENDING requests alone: the write-back that settles a request adds no
-- entry to it (its new row version is not PENDING), and only the importer's and the
-- Web API's inserts and a retry do, at the right edge (numbers grow). The extra
-- "number > 0", true of every request, keeps it from every query but the one that
-- says so: an index of the PENDING requests by number alone was taken by the claim
-- for its card-queue probes when the statistics predated an import (see migration
-- 000018), and no claim query names the number.
CREATE INDEX IF NOT EXISTS provisioning_requests_pending_number ON provisioning_requests (number)
    WHERE life_cycle_state = 'PENDING' AND number > 0;
