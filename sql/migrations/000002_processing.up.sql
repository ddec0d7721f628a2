-- Processing runs: claiming due requests, sending them to the CAS gateway, and
-- writing back what it said.

-- One row per run of a job that handles requests. A request finished by a run
-- carries its id in process_id.
CREATE TABLE processes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL,
    host        text        NOT NULL,
    pid         integer     NOT NULL,
    state       text        NOT NULL DEFAULT 'RUNNING' CHECK (state IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'INTERRUPTED')),
    claimed     integer     NOT NULL DEFAULT 0,
    completed   integer     NOT NULL DEFAULT 0,
    rejected    integer     NOT NULL DEFAULT 0,
    retried     integer     NOT NULL DEFAULT 0,
    batches     integer     NOT NULL DEFAULT 0,
    error       text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

ALTER TABLE provisioning_requests
    -- Sends so far that did not settle the request (RETRY, 429, 503, unknown outcome).
    ADD COLUMN attempts         integer NOT NULL DEFAULT 0,
    -- Not before this time: the backoff after an unsettled send. NULL: at once.
    ADD COLUMN next_attempt_at  timestamptz,
    -- The lease: the run that holds the request, and until when. A run that dies
    -- leaves its lease to expire; the request is then claimed again.
    ADD COLUMN claimed_by       bigint,
    ADD COLUMN lease_expires_at timestamptz;

-- The claim order: EXPRESS before REGULAR, then the sequence number.
CREATE INDEX provisioning_requests_claim ON provisioning_requests ((priority = 'REGULAR'), sequence_number)
    WHERE life_cycle_state = 'PENDING';
-- Each smartcard's pending requests in sequence order: only the first may be sent.
CREATE INDEX provisioning_requests_card_queue ON provisioning_requests (smartcard_ca_id, sequence_number)
    WHERE life_cycle_state = 'PENDING';
