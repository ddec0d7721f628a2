-- Whether request $1 may be sent now: claim_request.sql's rule, word for word after
-- the id (sql's tests check it), without taking it. The Web API's process_immediately
-- asks first, so that a call whose request waits (scheduled later, behind an
-- earlier request of its card, leased, waiting for a retry, held, or the queue paused) records no processing
-- run that sends nothing: 969 such empty runs were recorded in one short test.
SELECT EXISTS (
    SELECT 1
    FROM provisioning_requests r
    WHERE r.id = $1
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
)
