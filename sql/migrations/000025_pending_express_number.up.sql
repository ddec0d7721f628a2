-- The PENDING EXPRESS requests by number: the console's bulk confirmation of a
-- lever on them (its sample of 20, ops.PullSummary) and the Requests page of
-- state=PENDING&priority=EXPRESS. Both walked 000018's provisioning_requests_express_number
-- (every EXPRESS request, settled ones first) and fetched each row to test its
-- state: at 10 million requests the first 20 PENDING ones came after 190,000
-- settled ones, 1.4 s. The claim's provisioning_requests_express holds the same
-- rows by sequence_number, not in number order.
--
-- Cost: an entry per EXPRESS request imported, created, retried or given EXPRESS
-- (2% of requests in the console bench), none per write-back (the settled row
-- version is not PENDING). "number > 0", true of every request, keeps it from
-- every query that does not say so, the claim's among them (as 000021's
-- provisioning_requests_pending_number; see its comment).
CREATE INDEX IF NOT EXISTS provisioning_requests_pending_express_number ON provisioning_requests (number)
    WHERE life_cycle_state = 'PENDING' AND priority = 'EXPRESS' AND number > 0;
