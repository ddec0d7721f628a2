-- The requests by life cycle state, type and priority, at $1 (now): how many, and
-- for the PENDING ones that are due the earliest time one of them became due (its
-- scheduled date, or its creation if later), for the oldest pending request's age.
-- One scan of the table, for `provisioner status` and each metrics scrape.
SELECT life_cycle_state AS state, type, priority, count(*) AS count,
       min(greatest(scheduled_date, created_at))
           FILTER (WHERE life_cycle_state = 'PENDING' AND scheduled_date <= $1) AS oldest_due
FROM provisioning_requests
GROUP BY life_cycle_state, type, priority
ORDER BY life_cycle_state, type, priority
