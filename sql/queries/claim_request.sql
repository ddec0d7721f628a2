-- Records a processing run (name $1, host $2, pid $3) and claims request $5 for it
-- with a lease of $4 seconds, if the request may be sent now: the Web API's
-- process_immediately (dispatcher Options.RequestID). Returns the run's id and the
-- request; no row when the request may not be sent now, and then no run is recorded
-- either (a run is recorded only to send something: 969 empty runs were recorded in
-- one short test when it was). One statement for what took three (may it be sent,
-- record the run, claim it): each was a round trip and a planning of its own, about
-- a third of a call's time in the server (docs/web-api.md, throughput).
--
-- The rule of claim_requests.sql for one request: it is pending, due, not leased,
-- not waiting for a retry, not held, and the head of its smartcard's queue (no
-- earlier pending request of the card). One statement locking one row: PostgreSQL
-- re-checks all of this on the row's latest version once locked, so a lever
-- committed meanwhile is obeyed, and a row another run holds is passed over (SKIP
-- LOCKED: then nothing is claimed, and no run recorded). A statement of its own, not
-- a filter added to claim_requests.sql: an extra "$n = 0 OR ..." there made the
-- planner's estimates of the generic plan so small that the processing run's claim
-- became several times slower.
--
-- The request is found by its id alone, its state tested as "not settled", and its
-- place in the card's queue by a min() over the card: shapes whose plans do not
-- depend on the statistics (see claim_requests.sql).
--
-- It commits without waiting for the WAL flush (synchronous_commit off for this
-- transaction alone): a claim lost in a crash of the server costs nothing but an
-- early resend, under the same command_id, which the gateway answers as a replay,
-- and a run record lost with it had taken nothing. The insert that created the
-- request was flushed before this; the write-back that follows the send is flushed
-- too (see write_back.sql), which makes this commit durable as well, the WAL being
-- written in order.
WITH commit_mode AS MATERIALIZED (
    SELECT set_config('synchronous_commit', 'off', true)
), locked AS MATERIALIZED (
    SELECT r.id
    FROM provisioning_requests r
    WHERE r.id = $5
      AND r.life_cycle_state NOT IN ('COMPLETED', 'REJECTED')
      AND r.scheduled_date <= now()
      AND r.held_at IS NULL
      AND (r.next_attempt_at IS NULL OR r.next_attempt_at <= now())
      AND (r.lease_expires_at IS NULL OR r.lease_expires_at < now())
      AND r.sequence_number = (
          SELECT min(p.sequence_number) FROM provisioning_requests p
          WHERE p.smartcard_ca_id = r.smartcard_ca_id AND p.life_cycle_state = 'PENDING')
      -- A paused queue claims nothing (see claim_requests.sql).
      AND NOT EXISTS (SELECT FROM pauses q WHERE q.target = 'queue')
    FOR UPDATE OF r SKIP LOCKED
), run AS (
    INSERT INTO processes (name, host, pid)
    SELECT $1::text, $2::text, $3::integer FROM locked, commit_mode
    RETURNING id
)
UPDATE provisioning_requests r
SET claimed_by = run.id, lease_expires_at = now() + make_interval(secs => $4)
FROM locked, run
WHERE r.id = locked.id
RETURNING run.id AS process_id,
          r.id, r.number, r.type, r.priority, r.sequence_number, r.smartcard_ca_id,
          coalesce(r.service_ca_ids, '{}') AS service_ca_ids, coalesce(r.stb_ca_id, '') AS stb_ca_id,
          coalesce(r.pin, '') AS pin, r.attempts, r.command_generation, r.first_attempt_at, 0 AS rank, r.sequence_number AS ord
