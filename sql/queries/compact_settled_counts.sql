-- Sums the deltas of settled_counts (migration 000020) into one row per state,
-- type and priority, in one statement: rows appended meanwhile by other
-- transactions are not in its snapshot and stay as they are; two compactions at
-- once each sum the rows they deleted. At the end of a processing run and by
-- housekeeping.
WITH gone AS (
    DELETE FROM settled_counts RETURNING *
)
INSERT INTO settled_counts (life_cycle_state, type, priority, n)
SELECT life_cycle_state, type, priority, sum(n)
FROM gone
GROUP BY life_cycle_state, type, priority
HAVING sum(n) <> 0
