-- The PENDING requests, narrow and dense, for `provisioner status` and the metrics
-- (sql/queries/queue_counts.sql): what they wait for is worked out from these
-- columns alone, and read from the wide table each PENDING request was one page
-- (issue 16, part 3: at 10 million requests the PENDING ones lie one to a page among
-- the settled ones, 41,000 on 40,967 pages, out of shared_buffers: 0.2-1 s a
-- status). Here about 55 to a page (12,018 on 215 pages in the history bench).
--
-- Kept by statement triggers over the transition tables, in the transaction that
-- changes the request: a row here follows its request's own row (nothing here
-- depends on another request, so concurrent writers cannot leave it wrong), and a
-- snapshot sees both alike. Keyed by smartcard and sequence number: the triggers
-- find a row by its request's old values, and need no index on the request's id.
--
-- Not an index-only scan of a covering partial index on provisioning_requests: the
-- visibility map is not set on the pages the importer and the write-backs have just
-- written, and nothing vacuums a 10 million row table between runs, so each entry
-- would still cost a read of its heap page.
CREATE TABLE pending_queue (
    smartcard_ca_id  text        NOT NULL,
    sequence_number  bigint      NOT NULL,
    number           bigint      NOT NULL,
    type             text        NOT NULL,
    priority         text        NOT NULL,
    scheduled_date   timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    held             boolean     NOT NULL,
    next_attempt_at  timestamptz,
    lease_expires_at timestamptz,
    PRIMARY KEY (smartcard_ca_id, sequence_number)
) WITH (fillfactor = 80); -- room on each page for the claims' and levers' updates (HOT)

-- INSERT: the importer's COPY, the Web API, the reconciliation's corrections.
CREATE FUNCTION pending_queue_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pending_queue (smartcard_ca_id, sequence_number, number, type, priority, scheduled_date,
                               created_at, held, next_attempt_at, lease_expires_at)
    SELECT smartcard_ca_id, sequence_number, number, type, priority, scheduled_date,
           created_at, held_at IS NOT NULL, next_attempt_at, lease_expires_at
    FROM new_rows
    WHERE life_cycle_state = 'PENDING';
    RETURN NULL;
END
$$;

-- UPDATE: a request that leaves PENDING (write-back, cancel) goes, one that comes
-- back (retry) comes in, one that stays is updated if a column of its row here
-- changed (claim, release, hold, reschedule, priority, a retry's wait), and nothing
-- is written for the others. One statement: the claims and write-backs fire this
-- for every 100 or so requests, and each statement of a trigger costs its own
-- join of the transition tables and its own start.
CREATE FUNCTION pending_queue_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changed AS MATERIALIZED (
        SELECT o.smartcard_ca_id AS old_card, o.sequence_number AS old_seq,
               o.life_cycle_state = 'PENDING' AS was_pending, n.life_cycle_state = 'PENDING' AS is_pending,
               n.smartcard_ca_id = o.smartcard_ca_id AND n.sequence_number = o.sequence_number AS same_key,
               n.smartcard_ca_id, n.sequence_number, n.number, n.type, n.priority, n.scheduled_date,
               n.created_at, n.held_at IS NOT NULL AS held, n.next_attempt_at, n.lease_expires_at
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.life_cycle_state = 'PENDING' OR n.life_cycle_state = 'PENDING')
          AND (o.life_cycle_state, o.smartcard_ca_id, o.sequence_number, o.number, o.type, o.priority,
               o.scheduled_date, o.created_at, o.held_at IS NOT NULL, o.next_attempt_at, o.lease_expires_at)
              IS DISTINCT FROM
              (n.life_cycle_state, n.smartcard_ca_id, n.sequence_number, n.number, n.type, n.priority,
               n.scheduled_date, n.created_at, n.held_at IS NOT NULL, n.next_attempt_at, n.lease_expires_at)
    ), gone AS (
        DELETE FROM pending_queue q
        USING changed c
        WHERE c.was_pending AND NOT (c.is_pending AND c.same_key)
          AND q.smartcard_ca_id = c.old_card AND q.sequence_number = c.old_seq
    ), kept AS (
        UPDATE pending_queue q
        SET number = c.number, type = c.type, priority = c.priority, scheduled_date = c.scheduled_date,
            created_at = c.created_at, held = c.held, next_attempt_at = c.next_attempt_at,
            lease_expires_at = c.lease_expires_at
        FROM changed c
        WHERE c.was_pending AND c.is_pending AND c.same_key
          AND q.smartcard_ca_id = c.smartcard_ca_id AND q.sequence_number = c.sequence_number
    )
    INSERT INTO pending_queue (smartcard_ca_id, sequence_number, number, type, priority, scheduled_date,
                               created_at, held, next_attempt_at, lease_expires_at)
    SELECT smartcard_ca_id, sequence_number, number, type, priority, scheduled_date,
           created_at, held, next_attempt_at, lease_expires_at
    FROM changed
    WHERE is_pending AND NOT (was_pending AND same_key);
    RETURN NULL;
END
$$;

CREATE FUNCTION pending_queue_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pending_queue q
    USING old_rows o
    WHERE o.life_cycle_state = 'PENDING'
      AND q.smartcard_ca_id = o.smartcard_ca_id AND q.sequence_number = o.sequence_number;
    RETURN NULL;
END
$$;

CREATE FUNCTION pending_queue_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pending_queue;
    RETURN NULL;
END
$$;

-- What is PENDING now, under a lock that holds off every change to the requests
-- until the triggers are in place (through the card queue's partial index).
LOCK TABLE provisioning_requests IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER pending_queue_insert AFTER INSERT ON provisioning_requests
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION pending_queue_insert();
CREATE TRIGGER pending_queue_update AFTER UPDATE ON provisioning_requests
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION pending_queue_update();
CREATE TRIGGER pending_queue_delete AFTER DELETE ON provisioning_requests
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION pending_queue_delete();
CREATE TRIGGER pending_queue_truncate AFTER TRUNCATE ON provisioning_requests
    FOR EACH STATEMENT EXECUTE FUNCTION pending_queue_truncate();

INSERT INTO pending_queue (smartcard_ca_id, sequence_number, number, type, priority, scheduled_date,
                           created_at, held, next_attempt_at, lease_expires_at)
SELECT smartcard_ca_id, sequence_number, number, type, priority, scheduled_date,
       created_at, held_at IS NOT NULL, next_attempt_at, lease_expires_at
FROM provisioning_requests
WHERE life_cycle_state = 'PENDING';
