-- Sums the deltas of settled_counts (migration 000020) into one row per state,
-- type and priority, and those of rejected_counts (migration 000030) into one row
-- per minute and error code, dropping the minutes more than two days old (status
-- looks back one day), in one statement: rows appended meanwhile by other
-- transactions are not in its snapshot and stay as they are; two compactions at
-- once each sum the rows they deleted. At the end of a processing run and by
-- housekeeping.
WITH gone AS (
    DELETE FROM settled_counts RETURNING *
), rejected_gone AS (
    DELETE FROM rejected_counts RETURNING *
), rejected AS (
    INSERT INTO rejected_counts (minute, error_code, n)
    SELECT minute, error_code, sum(n)
    FROM rejected_gone
    WHERE minute >= now() - interval '2 days'
    GROUP BY minute, error_code
    HAVING sum(n) <> 0
)
INSERT INTO settled_counts (life_cycle_state, type, priority, n)
SELECT life_cycle_state, type, priority, sum(n)
FROM gone
GROUP BY life_cycle_state, type, priority
HAVING sum(n) <> 0
