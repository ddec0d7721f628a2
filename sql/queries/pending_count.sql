-- The PENDING requests, counted up to $1: enough to tell whether the planner's
-- estimate is far below the truth, without reading a queue of millions. From
-- pending_queue (migration 000035), where they lie dense, rather than a page each
-- of provisioning_requests at 10 million requests.
SELECT count(*) FROM (
    SELECT 1 FROM pending_queue LIMIT $1
) p
