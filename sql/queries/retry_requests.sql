-- Puts the REJECTED requests $1 (ids) back to PENDING, at $3 (now): attempts reset,
-- error and answer cleared (the error kept in retried_error), same number. $2 (booleans, parallel to $1) says which
-- ones the gateway itself rejected: they get a new command_id (command_generation
-- raised); the others keep theirs (see ops/doc.go). Each gets a new sequence number,
-- in the order of the old ones, so it goes behind what is queued for its card. $4
-- (parallel) is each row's updated_at when the operator saw it: a row changed since
-- (another retry, a housekeeping run) is left alone. $5 (parallel) is a SET_PIN's
-- PIN given again by the operator ('' keeps the row's: a settled SET_PIN's PIN is
-- erased, see migration 000008). Returns what it changed.
WITH targets AS (
    SELECT r.id, t.bump, t.pin, r.sequence_number AS old_seq
    FROM unnest($1::bigint[], $2::boolean[], $4::timestamptz[], $5::text[]) AS t (id, bump, seen, pin)
    JOIN provisioning_requests r ON r.id = t.id
    WHERE r.life_cycle_state = 'REJECTED' AND r.updated_at = t.seen
    ORDER BY r.sequence_number
    FOR UPDATE OF r
),
-- nextval in the order of the old sequence numbers.
renumbered AS (
    SELECT o.id, o.bump, o.pin, nextval('provisioning_request_sequence_seq') AS seq
    FROM (SELECT id, bump, pin FROM targets ORDER BY old_seq) o
)
UPDATE provisioning_requests r
SET life_cycle_state   = 'PENDING',
    -- Back in the queue at its end: not marked as waiting (migration 000031), which
    -- is never wrong (a request cancelled while it waited kept its mark).
    waits_behind       = false,
    sequence_number    = n.seq,
    command_generation = r.command_generation + CASE WHEN n.bump THEN 1 ELSE 0 END,
    pin                = coalesce(NULLIF(n.pin, ''), r.pin),
    attempts           = 0,
    next_attempt_at    = NULL,
    request            = NULL,
    response           = NULL,
    reference_number   = NULL,
    error_code         = NULL,
    error_description  = NULL,
    executed_date      = NULL,
    process_name       = NULL,
    process_id         = NULL,
    retried_error      = concat_ws(': ', r.error_code, r.error_description),
    retries            = r.retries + 1,
    retried_at         = $3,
    updated_at         = $3
FROM renumbered n
WHERE r.id = n.id
RETURNING r.id
