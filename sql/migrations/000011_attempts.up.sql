-- The history of every send (issue 12, part 1): one row per command sent to the
-- gateway, written by the processing run's write-back statement (write_back.sql),
-- in the same statement as the request's own outcome.

CREATE TABLE request_attempts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id        bigint      NOT NULL,
    process_id        bigint      NOT NULL,
    batch_id          text        NOT NULL,
    command_id        text        NOT NULL,
    sent_at           timestamptz NOT NULL,
    answered_at       timestamptz,
    -- completed, rejected, retry: the gateway's result for the command (HTTP 200,
    -- or a 400 for the command sent alone); 429, 503: the gateway asked to wait;
    -- unknown: no usable answer (timeout, broken connection, another status), the
    -- command may have been applied; refused: the connection was never made, so
    -- nothing can have been applied and the send is not counted in attempts.
    outcome           text        NOT NULL
                      CHECK (outcome IN ('completed', 'rejected', 'retry', '429', '503', 'unknown', 'refused')),
    http_status       integer,
    error_code        text,
    error_description text,
    replayed          boolean     NOT NULL DEFAULT false
);
-- No foreign key to provisioning_requests, as for every reference to it (000001):
-- a foreign key's per-row check would cost each write-back. Housekeeping deletes a
-- request's attempts in the statement that deletes the request
-- (housekeeping_delete_requests.sql), through this index; `requests show` reads
-- them through it too.
CREATE INDEX request_attempts_request ON request_attempts (request_id, id);

-- The first counted attempt of a request: E_MAX_ATTEMPTS needs both MaxAttempts
-- sends and MaxAttemptsAge since this (dispatcher.Options), so that an outage
-- shorter than that age rejects nothing. NULL: no counted attempt yet.
ALTER TABLE provisioning_requests ADD COLUMN first_attempt_at timestamptz;
