-- The PENDING requests, counted up to $1: enough to tell whether the planner's
-- estimate is far below the truth, without reading a queue of millions.
SELECT count(*) FROM (
    SELECT 1 FROM provisioning_requests WHERE life_cycle_state = 'PENDING' LIMIT $1
) p
