-- The memory of settled_per_minute.sql's aggregate, for its transaction alone (SET
-- LOCAL: PgBouncer's transaction pooling keeps it to this transaction). The planner
-- cannot know that a minute holds some 70 requests: it expects as many minutes as
-- rows (92,000 of 104,000 on a day of a 10-million-request table), which do not fit
-- a hash table in the default 4MB, so it sorts the day's rows on disk instead
-- (external merge: about twice as slow, measured at 10 million requests, see
-- docs/console.md). With 16MB it hashes them, in the 2MB the 1,440 minutes take.
SET LOCAL work_mem = '16MB'
