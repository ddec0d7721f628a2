-- The requests by life cycle state, type and priority, at $1 (now): how many; for
-- the PENDING ones, how many wait for what; and the earliest time a due one became
-- due (its scheduled date, or its creation if later), for the oldest pending
-- request's age. For `provisioner status` and the metrics.
--
-- What a PENDING request waits for (ops.WaitKind), its own state first: in flight
-- (claimed by a run whose lease holds), held (by an operator, `requests hold`, until
-- released), retry wait (backing off after an unsettled send), scheduled (its date is
-- still to come). One waiting for none of these is due
-- if it is the head of its smartcard's queue (its pending request with the lowest
-- sequence number): exactly what the claim takes (claim_requests.sql, the head
-- rule). Otherwise it is blocked, and what its card's head waits for says by what
-- (head: the head's own wait, "due" when the head goes at the next claim).
--
-- The cost (measured on 1,000,000 settled and 200,000 pending requests, 150,000 of
-- them waiting for nothing of their own, on the shared 2-core machine): the settled
-- requests were then counted by one scan (now summed from settled_counts); the pending ones are read through
-- their partial index and sorted by card, once: 1.0-1.8 s against 0.8-1.1 s for the
-- count without the head rule. $2 false leaves the PENDING ones out (a constant: the
-- planner drops their scan): the console's overview above its cap
-- (ops.StatusOptions.PendingCap). A probe of the card's queue per pending request
-- (a correlated subquery, or a lateral join) took 3.3-10 s: a loop per row, and a
-- cost estimate that set off JIT compilation.
--
-- The oldest due request of each group (its number and sequence number, earliest
-- due first, then by sequence) comes from the same pass: status then looks it up by
-- its number (oldest_pending.sql) instead of reading the PENDING requests a second
-- time. At 10 million requests each PENDING request is one page read (they lie one
-- to a page among the settled ones: 41,000 on 40,967 pages), about 1 s a pass.
WITH pending AS (
    SELECT number, type, priority, scheduled_date, created_at, own, sequence_number,
           CASE WHEN own <> 'ready' THEN NULL
                WHEN sequence_number = first_value(sequence_number) OVER card THEN 'self'
                ELSE replace(first_value(own) OVER card, 'ready', 'due') END AS head
    FROM (
        SELECT number, type, priority, scheduled_date, created_at, smartcard_ca_id, sequence_number,
               CASE WHEN coalesce(lease_expires_at > $1, false) THEN 'in_flight'
                    WHEN held_at IS NOT NULL THEN 'held'
                    WHEN coalesce(next_attempt_at > $1, false) THEN 'retry_wait'
                    WHEN scheduled_date > $1 THEN 'scheduled'
                    ELSE 'ready' END AS own
        FROM provisioning_requests
        WHERE life_cycle_state = 'PENDING' AND $2::boolean
    ) p
    WINDOW card AS (PARTITION BY smartcard_ca_id ORDER BY sequence_number)
)
SELECT 'PENDING' AS state, type, priority, count(*) AS count,
       count(*) FILTER (WHERE own = 'in_flight') AS in_flight,
       count(*) FILTER (WHERE own = 'held') AS held,
       count(*) FILTER (WHERE own = 'retry_wait') AS retry_wait,
       count(*) FILTER (WHERE own = 'scheduled') AS scheduled,
       count(*) FILTER (WHERE head = 'self') AS due,
       count(*) FILTER (WHERE head = 'scheduled') AS blocked_by_scheduled,
       count(*) FILTER (WHERE head = 'retry_wait') AS blocked_by_retry_wait,
       count(*) FILTER (WHERE head = 'in_flight') AS blocked_by_in_flight,
       count(*) FILTER (WHERE head = 'held') AS blocked_by_held,
       count(*) FILTER (WHERE head = 'due') AS blocked_by_due,
       min(greatest(scheduled_date, created_at)) FILTER (WHERE head = 'self') AS oldest_due,
       (array_agg(number ORDER BY greatest(scheduled_date, created_at), sequence_number)
            FILTER (WHERE head = 'self'))[1] AS oldest_due_number,
       (array_agg(sequence_number ORDER BY greatest(scheduled_date, created_at), sequence_number)
            FILTER (WHERE head = 'self'))[1] AS oldest_due_sequence
FROM pending
GROUP BY type, priority
UNION ALL
-- The settled ones from their counts (migration 000020), not from the table: the
-- count of 10 million settled requests took seconds and grew with the history.
SELECT life_cycle_state, type, priority, sum(n)::bigint, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL
FROM settled_counts
GROUP BY life_cycle_state, type, priority
HAVING sum(n) <> 0
ORDER BY 1, 2, 3
