-- The requests settled per minute from $1 (inclusive) to $2 (exclusive), COMPLETED
-- and REJECTED apart: the console's overview chart. One index-only scan of
-- provisioning_requests_executed (migration 000019), of the day's rows alone; minutes
-- with none are absent, and the rows come in no order (ops.SettledPerMinute places
-- them). Run after settled_per_minute_memory.sql, in its transaction.
SELECT date_trunc('minute', executed_date) AS minute,
       count(*) FILTER (WHERE life_cycle_state = 'COMPLETED') AS completed,
       count(*) FILTER (WHERE life_cycle_state = 'REJECTED') AS rejected
FROM provisioning_requests
WHERE life_cycle_state IN ('COMPLETED', 'REJECTED')
  AND executed_date >= $1::timestamptz AND executed_date < $2::timestamptz
GROUP BY 1
