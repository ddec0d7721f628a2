-- Claims up to $2 due requests for run $1 with a lease of $3 seconds; $4, when not 0,
-- restricts the claim to the process_immediately requests of that import file; $5 is
-- how many candidates to weigh per request wanted: 1 usually, more after a claim came
-- back short because other runs held the first candidates (see "locked" below).
--
-- The rule (docs/processing-run.md, "Order"): only the head of a smartcard's queue (its pending
-- request with the lowest sequence number) may be sent, so a card's requests go out
-- one at a time in sequence order. Heads are taken EXPRESS first, then by sequence
-- number; and a card with an EXPRESS request waiting behind REGULAR ones has its head
-- promoted, ahead of other REGULAR work. SKIP LOCKED lets any number of runs claim at
-- once without waiting for or taking each other's requests.
--
-- A held head (held_at set: `requests hold`) is not claimed, and being still the
-- head it keeps its card's later requests waiting: the card's order holds. The lock
-- step re-checks held_at and the scheduled date on the row it locks: a lever that
-- committed after this statement's snapshot (hold, cancel, reschedule) is seen there
-- (PostgreSQL re-reads a row locked FOR UPDATE at its latest version), and one that
-- has not committed holds the row's lock, which SKIP LOCKED passes over. So a request
-- is either claimed or changed by a lever, never both (ops/levers.go).
--
-- Plans that hold when the statistics are stale. A bulk import into a table of
-- settled history leaves the statistics saying "no PENDING rows" until the next
-- ANALYZE, so the planner costs a scan of any partial index on PENDING rows at about
-- one row. Two shapes then collapsed (issue 15: minutes per claim at 200,000 pending):
-- the head test as a NOT EXISTS, planned as an anti join whose inner side scanned the
-- whole card queue for every candidate; and the lock step as a join, planned with a
-- scan of every pending row on the outer side. Here every step that follows a row
-- reaches the next one through a correlated subquery or a lookup by id, which the
-- planner cannot flatten into such a join: the head test is a scalar min() over the
-- card's queue, and the lock step looks each candidate up by its id, with its state
-- re-checked as "not settled" (NOT IN ('COMPLETED', 'REJECTED')) rather than
-- "= 'PENDING'", which would let the planner choose a partial index scan over the
-- primary key. What these shapes cannot choose is between the two partial indexes for
-- the card probes, which look alike on statistics that count no pending row: the
-- statistics are therefore refreshed when they hide pending rows
-- (store.RefreshRequestStats: in the importer's transaction, and at a run's start).
--
-- The heads are read in claim order from provisioning_requests_claim_next, whose last
-- column is the time a request is due: the requests scheduled later or waiting for a
-- retry are passed over in the index without reading their rows (each claim used to
-- read them all again). The index holds no request marked as waiting behind an earlier
-- one of its card (waits_behind, migration 000031): those the walk does not meet at
-- all, where it read each one's row and its head's, at every claim. The mark is a
-- hint that is never wrong when set; the head test below still decides. The planner could also read every due request (a bitmap scan,
-- or a scan of the card queue index) and sort them all: plans it took on a queue of
-- future dates and on stale statistics. The claim's transaction turns bitmap scans
-- and sorts off (claim_settings.sql), so that the plan left is the walk.
WITH promoted AS (
    -- Heads that block an EXPRESS request of the same card.
    SELECT h.id, 0 AS rank, e.sequence_number AS ord
    FROM provisioning_requests e
    CROSS JOIN LATERAL (
        SELECT p.id, p.scheduled_date, p.next_attempt_at, p.lease_expires_at, p.source_file_id, p.process_immediately, p.held_at
        FROM provisioning_requests p
        WHERE p.smartcard_ca_id = e.smartcard_ca_id AND p.life_cycle_state = 'PENDING'
        ORDER BY p.sequence_number
        LIMIT 1
    ) h
    WHERE e.life_cycle_state = 'PENDING' AND e.priority = 'EXPRESS'
      AND e.scheduled_date <= now()
      AND h.id <> e.id
      AND h.scheduled_date <= now()
      AND h.held_at IS NULL
      AND (h.next_attempt_at IS NULL OR h.next_attempt_at <= now())
      AND (h.lease_expires_at IS NULL OR h.lease_expires_at < now())
      AND ($4 = 0 OR (h.source_file_id = $4 AND h.process_immediately))
    ORDER BY e.sequence_number -- provisioning_requests_express
    LIMIT $5::int * $2::int
),
heads AS (
    SELECT r.id, (r.priority = 'REGULAR')::int AS rank, r.sequence_number AS ord
    FROM provisioning_requests r
    WHERE r.life_cycle_state = 'PENDING'
      -- Not marked as waiting behind an earlier request of its card (migration
      -- 000031): those are not in the index, and the walk passes none of them.
      AND NOT r.waits_behind
      -- Due: scheduled, and past any retry's backoff. Tested in the index, on each
      -- entry before its row is read (migration 000026).
      AND greatest(r.scheduled_date, r.next_attempt_at) <= now()
      AND r.held_at IS NULL
      AND (r.lease_expires_at IS NULL OR r.lease_expires_at < now())
      AND ($4 = 0 OR (r.source_file_id = $4 AND r.process_immediately))
      AND r.sequence_number = (
          SELECT min(p.sequence_number) FROM provisioning_requests p
          WHERE p.smartcard_ca_id = r.smartcard_ca_id AND p.life_cycle_state = 'PENDING')
    ORDER BY (r.priority = 'REGULAR'), r.sequence_number -- provisioning_requests_claim_next
    LIMIT $5::int * $2::int
),
-- A head both promoted and plain keeps its promoted place (the least rank, ord).
picked AS (
    SELECT DISTINCT ON (id) id, rank, ord
    FROM (SELECT * FROM promoted UNION ALL SELECT * FROM heads) c
    ORDER BY id, rank, ord
),
-- The limit applies after locking: rows that another run's claim holds at this
-- moment are skipped and do not count, so runs claiming at the same time take the
-- next candidates instead of coming back empty (and ending, with work still due).
-- Hence 4 x $2 candidates above: enough for four claims at the same moment. The
-- candidates are locked in claim order, one lookup by id each (a subquery with a
-- locking clause is never merged into the join), until $2 are held.
locked AS (
    SELECT l.id, c.rank, c.ord
    FROM (SELECT id, rank, ord FROM picked ORDER BY rank, ord) c
    CROSS JOIN LATERAL (
        SELECT r.id FROM provisioning_requests r
        WHERE r.id = c.id
          AND r.life_cycle_state NOT IN ('COMPLETED', 'REJECTED')
          AND (r.lease_expires_at IS NULL OR r.lease_expires_at < now())
          AND r.held_at IS NULL AND r.scheduled_date <= now()
        FOR UPDATE SKIP LOCKED
    ) l
    -- A paused queue (`provisioner pause queue`) claims nothing: a one-time filter,
    -- tested before any row is read or locked, in the claim itself so that it costs
    -- no round trip and no claim passes a pause committed before it began.
    WHERE NOT EXISTS (SELECT FROM pauses q WHERE q.target = 'queue')
    LIMIT $2
)
UPDATE provisioning_requests r
SET claimed_by = $1, lease_expires_at = now() + make_interval(secs => $3)
FROM locked
WHERE r.id = locked.id
RETURNING r.id, r.number, r.type, r.priority, r.sequence_number, r.smartcard_ca_id,
          coalesce(r.service_ca_ids, '{}') AS service_ca_ids, coalesce(r.stb_ca_id, '') AS stb_ca_id,
          coalesce(r.pin, '') AS pin, r.attempts, r.command_generation, r.first_attempt_at, locked.rank, locked.ord
