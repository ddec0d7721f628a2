-- The pending EXPRESS requests in sequence order, for the claim's promotion step
-- (sql/queries/claim_requests.sql): the claim index's first column is
-- (priority = 'REGULAR'), which "priority = 'EXPRESS'" cannot use, so once the EXPRESS
-- requests were sent the step read every pending row (measured: 14-19 ms of a 17-23 ms
-- claim at 30,000 pending). EXPRESS requests are few: the index is small.
CREATE INDEX provisioning_requests_express ON provisioning_requests (sequence_number)
    WHERE life_cycle_state = 'PENDING' AND priority = 'EXPRESS';
