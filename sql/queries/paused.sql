-- What is paused, for status and the metrics.
SELECT target, paused_at, paused_by, reason FROM pauses ORDER BY target
