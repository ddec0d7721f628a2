-- Rewrites pending_queue into as few pages as its rows need, when it is sparse
-- (pending_queue_sparse.sql). VACUUM FULL takes an ACCESS EXCLUSIVE lock: with
-- SKIP_LOCKED it is skipped at once if any transaction holds a lock on the table (a
-- claim, a write-back, an import, status), rather than wait and make them queue
-- behind it; once it holds the lock, the claims and write-backs that come wait for
-- the rewrite of the rows left, milliseconds for tens of thousands. The next run's
-- end tries again. Not in a transaction.
VACUUM (FULL, SKIP_LOCKED) pending_queue
