-- The requests by life cycle state, type and priority, at $1 (now): how many; for
-- the PENDING ones, how many wait for what (in flight: claimed by a live run; retry
-- wait: backing off after an unsettled send; held: by an operator, `requests hold`;
-- scheduled: not due yet; the rest are due: claimable now, or behind an earlier
-- request of their card, a held one included); and the earliest
-- time a due one became due (its scheduled date, or its creation if later), for the
-- oldest pending request's age. One scan of the table, for `provisioner status` and
-- the metrics.
SELECT state, type, priority, count(*) AS count,
       count(*) FILTER (WHERE in_flight) AS in_flight,
       count(*) FILTER (WHERE NOT in_flight AND held) AS held,
       count(*) FILTER (WHERE NOT in_flight AND NOT held AND retry_wait) AS retry_wait,
       count(*) FILTER (WHERE NOT in_flight AND NOT held AND NOT retry_wait AND scheduled_date > $1) AS scheduled,
       min(greatest(scheduled_date, created_at)) FILTER (WHERE state = 'PENDING' AND NOT held AND scheduled_date <= $1) AS oldest_due
FROM (
    SELECT life_cycle_state AS state, type, priority, scheduled_date, created_at,
           life_cycle_state = 'PENDING' AND coalesce(lease_expires_at > $1, false) AS in_flight,
           life_cycle_state = 'PENDING' AND coalesce(next_attempt_at > $1, false) AS retry_wait,
           life_cycle_state = 'PENDING' AND held_at IS NOT NULL AS held
    FROM provisioning_requests
) r
GROUP BY state, type, priority
ORDER BY state, type, priority
