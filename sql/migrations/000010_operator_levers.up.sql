-- The operator's levers (issue 12): holding requests, pausing jobs and the queue,
-- and the audit trail of every lever pulled.

ALTER TABLE provisioning_requests
    -- A held request stays PENDING but is not claimed, and as the head of its card's
    -- queue it keeps the card's later requests waiting too (order kept). NULL: not
    -- held. Who held it and why, for `requests show` and status.
    ADD COLUMN held_at     timestamptz,
    ADD COLUMN held_by     text,
    ADD COLUMN held_reason text;

-- What is paused: a job by its name (import, process, housekeeping), or the whole
-- queue ('queue': no processing run claims anything). One row per paused target;
-- resume deletes it. Read by every scheduler on each tick and by every processing
-- run before each claim, so a pause reaches every host within one tick.
CREATE TABLE pauses (
    target    text        PRIMARY KEY,
    paused_at timestamptz NOT NULL DEFAULT now(),
    paused_by text        NOT NULL,
    reason    text        NOT NULL DEFAULT ''
);

-- Who did what: one row per lever pulled (retry, hold, release, cancel, reschedule,
-- priority, pause, resume, tokens create/revoke, reference load). Append-only: the
-- triggers below refuse UPDATE, DELETE and TRUNCATE from any role that does not
-- disable triggers (the application's role cannot: that needs ownership of the table
-- or superuser rights with session_replication_role). Housekeeping never deletes it.
CREATE TABLE audit_log (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    operator text        NOT NULL,
    -- retry, hold, release, cancel, reschedule, priority, pause, resume,
    -- tokens create, tokens revoke, reference load.
    action   text        NOT NULL,
    -- The command as given (its arguments), and its filters and parameters as read.
    command  text        NOT NULL DEFAULT '',
    filters  jsonb       NOT NULL DEFAULT '{}',
    -- How many requests it changed, and their numbers: the first 10,000 only (a
    -- lever over a million requests would store megabytes per row); touched is the
    -- full count, so numbers_truncated = touched > cardinality(numbers).
    touched  integer     NOT NULL DEFAULT 0,
    numbers  bigint[]    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
