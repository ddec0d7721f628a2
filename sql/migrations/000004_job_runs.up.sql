-- The scheduler's run ledger: one row per run of a job (import, process,
-- housekeeping), whether the scheduler, `provisioner run JOB` or system cron started it.

CREATE TABLE job_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job         text        NOT NULL,
    -- The schedule time this run belongs to; for a one-off (MANUAL) run, its start.
    tick        timestamptz NOT NULL,
    trigger     text        NOT NULL CHECK (trigger IN ('SCHEDULE', 'CATCH_UP', 'MANUAL')),
    -- host:pid of the process that ran it.
    instance    text        NOT NULL,
    -- RUNNING until it ends. SUCCEEDED: exit 0. REJECTED: done, but rows, files or
    -- requests were rejected (exit 3). FAILED: an error or a panic (exit 1).
    -- SKIPPED: the tick came while the job's previous run still held its lock.
    -- INTERRUPTED: cancelled at shutdown. ABANDONED: its instance died while RUNNING.
    state       text        NOT NULL DEFAULT 'RUNNING'
                CHECK (state IN ('RUNNING', 'SUCCEEDED', 'REJECTED', 'FAILED', 'SKIPPED', 'INTERRUPTED', 'ABANDONED')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    -- What the run did, by name: {"files": 2, "created": 118, "rejected": 3} and so on.
    counts      jsonb       NOT NULL DEFAULT '{}',
    error       text
);

-- Each scheduled tick of a job runs at most once, whichever instance inserts it first.
CREATE UNIQUE INDEX job_runs_tick ON job_runs (job, tick) WHERE trigger <> 'MANUAL';
-- The last runs of each job, for `provisioner status`, metrics and catch-up.
CREATE INDEX job_runs_latest ON job_runs (job, started_at DESC);
