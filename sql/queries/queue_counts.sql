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
-- The PENDING requests are read from pending_queue (migration 000035), where
-- triggers keep their columns, narrow and dense (about 60 to a page). From
-- provisioning_requests each was a page read at 10 million requests (they lie one to
-- a page among the settled ones: 41,000 on 40,967 pages, out of shared_buffers),
-- 0.2 to 1 s a pass. The cost is still one row per PENDING request: no statement
-- can say how many are blocked without looking at each card's queue, and a count
-- kept by triggers per card would go wrong when an import and a write-back change
-- one card's queue at once. So it grows with the queue, not with the history.
-- The cards are sorted by their bytes (COLLATE "C": the partition needs only
-- equality), and the groups are hashed: the oldest due request of each is the least
-- of [due since in microseconds, sequence, number], not an ordered array_agg, which
-- sorted every PENDING request by type and priority once more (twice as long in all
-- on 25,700 PENDING requests). $2 false leaves the PENDING ones out (a constant: the planner
-- drops their scan): the console's overview above its cap
-- (ops.StatusOptions.PendingCap). A probe of the card's queue per pending request
-- (a correlated subquery, or a lateral join) took 3.3-10 s: a loop per row, and a
-- cost estimate that set off JIT compilation.
--
-- The oldest due request of each group (its number and sequence number, earliest
-- due first, then by sequence) comes from the same pass: status then looks it up by
-- its number (oldest_pending.sql) instead of reading the PENDING requests a second
-- time.
WITH pending AS (
    SELECT type, priority, own, sequence_number, number, since,
           CASE WHEN own <> 'ready' THEN NULL
                WHEN sequence_number = first_value(sequence_number) OVER card THEN 'self'
                ELSE replace(first_value(own) OVER card, 'ready', 'due') END AS head
    FROM (
        SELECT type, priority, smartcard_ca_id, sequence_number, number,
               greatest(scheduled_date, created_at) AS since,
               CASE WHEN coalesce(lease_expires_at > $1, false) THEN 'in_flight'
                    WHEN held THEN 'held'
                    WHEN coalesce(next_attempt_at > $1, false) THEN 'retry_wait'
                    WHEN scheduled_date > $1 THEN 'scheduled'
                    ELSE 'ready' END AS own
        FROM pending_queue
        WHERE $2::boolean
    ) p
    WINDOW card AS (PARTITION BY smartcard_ca_id COLLATE "C" ORDER BY sequence_number)
), groups AS (
    SELECT type, priority, count(*) AS count,
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
           -- Microseconds since the epoch: exact, as timestamptz's own precision.
           min(ARRAY[(extract(epoch FROM since) * 1000000)::bigint, sequence_number, number])
               FILTER (WHERE head = 'self') AS oldest
    FROM pending
    GROUP BY type, priority
)
SELECT 'PENDING' AS state, type, priority, count, in_flight, held, retry_wait, scheduled, due,
       blocked_by_scheduled, blocked_by_retry_wait, blocked_by_in_flight, blocked_by_held, blocked_by_due,
       timestamptz 'epoch' + oldest[1] * interval '1 microsecond' AS oldest_due,
       oldest[3] AS oldest_due_number, oldest[2] AS oldest_due_sequence
FROM groups
UNION ALL
-- The settled ones from their counts (migration 000020), not from the table: the
-- count of 10 million settled requests took seconds and grew with the history.
SELECT life_cycle_state, type, priority, sum(n)::bigint, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL
FROM settled_counts
GROUP BY life_cycle_state, type, priority
HAVING sum(n) <> 0
ORDER BY 1, 2, 3
