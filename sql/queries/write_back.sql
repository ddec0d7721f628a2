-- Writes back one batch's outcomes for run $1 (process name $2), one statement for
-- the whole batch. Parallel arrays: $3 ids, $4 states, $5 attempts, $6 next attempt
-- times (RFC 3339), $7 raw requests, $8 raw responses, $9 reference numbers, $10
-- error codes, $11 error descriptions; '' stands for NULL. The guard (still PENDING
-- and still claimed by this run) makes a run whose lease expired, and whose requests
-- another run took over, write nothing: the rows it returns are the ones written.
--
-- The history of every send (request_attempts, issue 12), parallel to $3: $12
-- outcome kinds ('' for a command not sent: no row), $13 batch ids, $14 command ids,
-- $15 sent and $16 answered times (RFC 3339; '' for no answer), $17 HTTP statuses
-- (0 for none), $18 and $19 the send's own error code and description (the request's
-- may be E_MAX_ATTEMPTS), $20 replayed. In the same statement as the outcomes, so
-- that one is never written without the other. Not behind the guard: a command sent
-- was sent, even by a run whose lease expired meanwhile (its outcome is then the
-- other run's to write), and the history says so.
--
-- $21 true: commit without waiting for the WAL flush, for the Web API's one request
-- (process_immediately), whose caller waits for this commit: the insert that created
-- the request was flushed before it was sent, and an outcome lost in a crash of the
-- server leaves the request claimed; its lease expires, a processing run sends it
-- again under the same command_id, and the gateway answers that as a replay, applying
-- nothing twice, so the request ends as the caller was told (docs/web-api.md). The
-- processing run waits for the flush ($21 false).
WITH commit_mode AS MATERIALIZED (
    SELECT set_config('synchronous_commit',
                      CASE WHEN $21::boolean THEN 'off' ELSE current_setting('synchronous_commit') END, true)
), attempts AS (
    INSERT INTO request_attempts (request_id, process_id, batch_id, command_id, sent_at, answered_at, outcome,
                                  http_status, error_code, error_description, replayed)
    SELECT a.id, $1, a.batch_id, a.command_id, a.sent_at::timestamptz, NULLIF(a.answered_at, '')::timestamptz,
           a.outcome, NULLIF(a.http_status, 0), NULLIF(a.error_code, ''), NULLIF(a.error_description, ''), a.replayed
    FROM unnest($3::bigint[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::int[],
                $18::text[], $19::text[], $20::boolean[])
             AS a (id, outcome, batch_id, command_id, sent_at, answered_at, http_status, error_code, error_description, replayed)
    WHERE a.outcome <> ''
), next_up AS (
    -- The request right after each one this batch settles becomes its card's head:
    -- it no longer waits behind another (waits_behind, migration 000031), and the
    -- claim's index must hold it again. Read in this statement's snapshot, where the
    -- settled request is still PENDING; only a request marked is written. Whichever
    -- of two requests next to each other leaves PENDING first, each clears the one
    -- after it (lever_cancel.sql too), so a mark never outlives the requests before
    -- it. Not behind the guard: clearing a mark is never wrong, only a walk step more.
    -- $22 and $23, parallel to $3: each request's smartcard and sequence number.
    UPDATE provisioning_requests n
    SET waits_behind = false
    FROM unnest($4::text[], $22::text[], $23::bigint[]) AS h (state, smartcard_ca_id, sequence_number)
    CROSS JOIN LATERAL (
        SELECT p.id, p.waits_behind FROM provisioning_requests p
        WHERE p.smartcard_ca_id = h.smartcard_ca_id AND p.life_cycle_state = 'PENDING'
          AND p.sequence_number > h.sequence_number
        ORDER BY p.sequence_number
        LIMIT 1
    ) x
    WHERE h.state <> 'PENDING' AND x.waits_behind AND n.id = x.id
)
UPDATE provisioning_requests r
SET life_cycle_state  = u.state,
    attempts          = u.attempts,
    next_attempt_at   = NULLIF(u.next_attempt_at, '')::timestamptz,
    request           = u.request,
    response          = u.response,
    reference_number  = NULLIF(u.reference_number, ''),
    error_code        = NULLIF(u.error_code, ''),
    error_description = NULLIF(u.error_description, ''),
    executed_date     = CASE WHEN u.state = 'PENDING' THEN r.executed_date ELSE now() END,
    process_name      = CASE WHEN u.state = 'PENDING' THEN r.process_name ELSE $2 END,
    process_id        = CASE WHEN u.state = 'PENDING' THEN r.process_id ELSE $1 END,
    claimed_by        = NULL,
    lease_expires_at  = NULL,
    updated_at        = now(),
    -- A counted send (attempts raised) starts the age E_MAX_ATTEMPTS also needs.
    first_attempt_at  = CASE WHEN u.attempts > r.attempts THEN coalesce(r.first_attempt_at, now()) ELSE r.first_attempt_at END
FROM commit_mode, unnest($3::bigint[], $4::text[], $5::int[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::text[], $11::text[])
         AS u (id, state, attempts, next_attempt_at, request, response, reference_number, error_code, error_description)
-- Each id by its primary key. The statistics see claimed_by as always NULL, so a plain
-- join let the planner expect one row for "claimed_by = $1" and scan the whole table
-- (measured: 867 ms for a 500-row write-back, against 15 ms this way). OFFSET 0 keeps
-- the subquery from being flattened back into that plan. The state is tested as "not
-- settled": "= 'PENDING'" let the planner, on statistics that predate an import,
-- scan a partial index of every pending row for each id instead of the primary key
-- (seconds per write-back; see claim_requests.sql).
CROSS JOIN LATERAL (
    SELECT q.id FROM provisioning_requests q
    WHERE q.id = u.id AND q.claimed_by = $1 AND q.life_cycle_state NOT IN ('COMPLETED', 'REJECTED')
    OFFSET 0
) g
WHERE r.id = g.id AND r.claimed_by = $1 AND r.life_cycle_state NOT IN ('COMPLETED', 'REJECTED')
RETURNING r.id
