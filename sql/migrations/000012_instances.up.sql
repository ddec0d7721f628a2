-- Live instances (issue 12, part 5): every scheduler, `provisioner run` and
-- `provisioner process` keeps a row here while it lives, its last_seen_at raised on
-- a timer (one UPDATE by primary key), and deletes it when it ends cleanly. A row
-- not seen for long is an instance that died: `status` says so, and of the job runs
-- it still shows RUNNING. Housekeeping deletes the rows of instances dead for long.
CREATE TABLE instances (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- scheduler, run (provisioner run JOB) or process (provisioner process).
    kind         text        NOT NULL CHECK (kind IN ('scheduler', 'run', 'process')),
    -- As the run ledger names it (job_runs.instance): scheduler.instance or host:pid.
    name         text        NOT NULL,
    host         text        NOT NULL,
    pid          integer     NOT NULL,
    version      text        NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    -- What it is doing, in words: "running process, import", "idle".
    doing        text        NOT NULL DEFAULT ''
);
