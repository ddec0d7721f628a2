-- The operator's commands: `provisioner requests retry` and `provisioner status`.

ALTER TABLE provisioning_requests
    -- Which command_id the gateway sees for this request: 0 sends the number ("18573"),
    -- n sends "18573.n". A retry raises it only for a request the gateway itself
    -- rejected: the gateway stores each command_id's outcome forever and would answer
    -- the old id with the stored rejection. A request rejected here without a settled
    -- answer (E_MAX_ATTEMPTS) keeps its id: the gateway may have applied it, and a new
    -- id could apply it twice. See dispatcher.CommandID and ops/retry.go.
    ADD COLUMN command_generation integer NOT NULL DEFAULT 0,
    -- How many times an operator put the request back to PENDING, when last, and the
    -- rejection that retry cleared (code: description), so that it is not lost.
    ADD COLUMN retries            integer NOT NULL DEFAULT 0,
    ADD COLUMN retried_at         timestamptz,
    ADD COLUMN retried_error      text;

-- The rejected requests by when they were rejected: the top error codes of the last
-- day (status) and the retry's candidates. Partial, so the importer's COPY (every row
-- PENDING) never writes to it.
CREATE INDEX provisioning_requests_rejected ON provisioning_requests (executed_date)
    WHERE life_cycle_state = 'REJECTED';
