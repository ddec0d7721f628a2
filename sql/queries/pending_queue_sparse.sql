-- Whether pending_queue (migration 000035) takes more than 4 times the pages its live
-- rows need, and more than 128: status reads it whole, and its pages are as many as
-- the largest queue it held (a bulk file of a million rows leaves 16,000 pages after
-- its run has sent all but the requests scheduled later; VACUUM frees their room but
-- does not move the rows left). About 60 rows fit a page at its fillfactor. Read
-- from pg_class, which the VACUUM just before it set (vacuum_queue_tables.sql).
SELECT relpages > greatest(128, 4 * ceil(greatest(reltuples, 0) / 60))
FROM pg_class
WHERE oid = 'pending_queue'::regclass
