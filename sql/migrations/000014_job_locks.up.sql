-- A job's lock as a row with a lease, in place of a session-level advisory lock: a
-- pooler in transaction mode (PgBouncer pool_mode=transaction) hands each
-- transaction to whichever server connection is free, so a session's lock would stay
-- on a connection other clients then use, and its unlock would run on another
-- (issue 16). The holder renews the lease while its run lasts; a lock whose lease
-- has run out, or whose holder's process is gone from the same host, is free.
CREATE TABLE job_locks (
    job        text PRIMARY KEY,
    -- The job_runs row that holds it; 0 for a sweep of abandoned runs.
    run_id     bigint      NOT NULL,
    -- host:pid of the holder (job_runs.instance).
    instance   text        NOT NULL,
    expires_at timestamptz NOT NULL
);
