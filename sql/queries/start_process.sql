-- $1 name, $2 host, $3 pid; $4 true: commit without waiting for the WAL flush.
-- $4 is for the Web API's one-request runs, whose records should not cost a call a
-- flush of their own: the claim that follows waits for the flush (synchronous_commit
-- stays on for it), and that flush makes this record durable too, since the WAL is
-- written in order. A crash before the claim loses at most a run that took nothing.
WITH commit_mode AS MATERIALIZED (
    SELECT set_config('synchronous_commit',
                      CASE WHEN $4::boolean THEN 'off' ELSE current_setting('synchronous_commit') END, true)
)
INSERT INTO processes (name, host, pid)
SELECT $1::text, $2::text, $3::integer FROM commit_mode
RETURNING id
