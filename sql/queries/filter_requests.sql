-- The requests that match a filter (ops.Filter), in number order, every field with
-- the names of what they refer to: `provisioner requests list|show|retry` and the
-- Web API's show and list. A parameter left NULL ('' or 0 for the scalars) does not
-- filter. ops resolves the names to constants first (sql/queries/filter_constants.sql),
-- so that the planner sees the values, not subqueries it estimates blind. A list of
-- one value is compared with "=" (the CASE folds on the bound parameter): an index
-- on (the column, number) then gives its rows in number order, which it does not
-- for "= ANY" (an error code's page read all its 48,000 entries and sorted them):
-- $1 states, $2 types, $3 priorities, $4 error codes (text[]); $5 the smartcard's CA
-- ids (the value given, and the CA id of the serial number it may be); $6 the
-- subscription's id; $7 the import files' ids; $8/$9 created since/until, $10/$11
-- executed since/until (timestamptz; since inclusive, until exclusive); $12 number;
-- $13 the gateway's reference number; $14 id; $15 numbers after this one only (keyset
-- paging: the console's Requests page); $16/$17 the lowest and highest number a match
-- can have (0: none), which ops derives from the created and executed ranges
-- (filter_constants.sql); $18 the most rows to return (NULL: all), from offset $19;
-- $20 false leaves the names '' (subscription number, serial numbers, file name) and
-- joins nothing: the Web API does not show them, and the joins tripled the time of a
-- page of 1,000.
-- request, response, reference_number, error_code, error_description and
-- process_name are as stored, NULL included: the Web API tells NULL (never set) from
-- '' (a send without an answer writes an empty response). created_by_token and
-- updated_by_token are '' for a request no token created (an import file's).
-- The WHERE clause is count_requests.sql's, word for word (sql's tests check it).
--
-- The page is a walk of the number index (or of an index that ends with number) that
-- stops at the limit. The planner, which assumes matching rows spread evenly over the
-- numbers, would rather walk from the oldest request through every one created before
-- a range (seconds on 10 million requests): $16 and $17 start and end the walk at the
-- range's numbers instead. The PENDING requests, the newest, come last in number
-- order: with the state PENDING alone, "r.number > 0" names the predicate of
-- provisioning_requests_pending_number (migration 000021), their index by number,
-- which no other query can take (and of 000025's, the PENDING EXPRESS ones). With an executed since bound ($10) alone the
-- settled requests of the range have no number bounds (a request may be settled long
-- after its creation): the page's rows are taken through the time's index and
-- sorted ("r.number + 0" is not the number index's order), the page chosen by number
-- alone from the index (which holds the number: an index-only scan on a vacuumed
-- history) and only its rows read whole. The parameters are bound before planning
-- (no named statements), so the CASE folds to one or the other.
-- A card's or a subscription's requests are in two indexes each (migration 000028):
-- the settled ones (not PENDING), which an import does not touch, and the others
-- (neither COMPLETED nor REJECTED). The condition that names both, true of every
-- request, gives the planner an arm for each index: a BitmapOr of the two, then a
-- sort of the card's few rows. Its second arm does not say "PENDING", which would let
-- the planner take the claim's index for it (a walk of every PENDING request, costed
-- at nothing on statistics that predate an import). Their page is sorted
-- ("r.number + 0" again), never a walk of the number index filtered by the card or
-- the subscription: on statistics that know nothing of the column (the importer's
-- refresh analyses subscription_id only when a full ANALYZE does, and a table first
-- analysed empty has none) the planner takes a subscription for 0.5% of the table,
-- expects the walk to stop after 200 x 101 rows, and reads the whole table when the
-- subscription has a few (200,000 requests read for one, 191-570 ms at 0 after an
-- import: ops TestByCardPlansOnStaleStatistics).
-- The page is taken from provisioning_requests alone, and only its rows are joined:
-- joined before the limit, every row skipped by the offset was joined too (an
-- offset of 100,000 took 0.4 s instead of 25 ms, on 200,000 requests).
SELECT r.id, r.number, r.type, r.life_cycle_state, r.priority, r.sequence_number,
       r.scheduled_date, r.executed_date, r.process_immediately,
       r.request, r.response, r.reference_number, r.error_code, r.error_description,
       r.process_name, r.process_id,
       coalesce(s.number, '') AS subscription_number,
       r.smartcard_ca_id, coalesce(sc.serial_number, '') AS smartcard_serial_number,
       coalesce(r.service_ca_ids, '{}') AS service_ca_ids,
       coalesce(r.stb_ca_id, '') AS stb_ca_id, coalesce(stb.serial_number, '') AS stb_serial_number,
       coalesce(r.pin, '') AS pin, coalesce(r.reference, '') AS reference,
       r.source_file_id, coalesce(f.name, '') AS source_file, r.source_line,
       r.attempts, r.next_attempt_at, r.claimed_by, r.lease_expires_at,
       r.command_generation, r.retries, r.retried_at, coalesce(r.retried_error, '') AS retried_error,
       r.held_at, coalesce(r.held_by, '') AS held_by, coalesce(r.held_reason, '') AS held_reason,
       r.created_at, r.updated_at,
       coalesce(r.created_by_token, '') AS created_by_token, coalesce(r.updated_by_token, '') AS updated_by_token
FROM (
    SELECT p.*
    FROM (
    SELECT r.number
    FROM provisioning_requests r
    WHERE ($1::text[] IS NULL OR r.life_cycle_state = ANY ($1::text[]))
      AND ($2::text[] IS NULL OR r.type = ANY ($2::text[]))
      AND ($3::text[] IS NULL OR r.priority = ANY ($3::text[]))
      AND ($4::text[] IS NULL OR CASE WHEN cardinality($4::text[]) = 1 THEN r.error_code = ($4::text[])[1] ELSE r.error_code = ANY ($4::text[]) END)
      AND ($5::text[] IS NULL OR (CASE WHEN cardinality($5::text[]) = 1 THEN r.smartcard_ca_id = ($5::text[])[1] ELSE r.smartcard_ca_id = ANY ($5::text[]) END
                                  AND (r.life_cycle_state <> 'PENDING' OR (r.life_cycle_state <> 'COMPLETED' AND r.life_cycle_state <> 'REJECTED'))))
      AND ($6::bigint IS NULL OR (r.subscription_id = $6::bigint AND (r.life_cycle_state <> 'PENDING' OR (r.life_cycle_state <> 'COMPLETED' AND r.life_cycle_state <> 'REJECTED'))))
      AND ($7::bigint[] IS NULL OR CASE WHEN cardinality($7::bigint[]) = 1 THEN r.source_file_id = ($7::bigint[])[1] ELSE r.source_file_id = ANY ($7::bigint[]) END)
      AND ($8::timestamptz IS NULL OR r.created_at >= $8::timestamptz)
      AND ($9::timestamptz IS NULL OR r.created_at < $9::timestamptz)
      AND ($10::timestamptz IS NULL OR r.executed_date >= $10::timestamptz)
      AND ($11::timestamptz IS NULL OR r.executed_date < $11::timestamptz)
      AND ($12::bigint = 0 OR r.number = $12::bigint)
      AND ($13::text = '' OR r.reference_number = $13::text)
      AND ($14::bigint = 0 OR r.id = $14::bigint)
      AND ($15::bigint = 0 OR r.number > $15::bigint)
      AND ($16::bigint = 0 OR r.number >= $16::bigint)
      AND ($17::bigint = 0 OR r.number <= $17::bigint)
      AND (NOT coalesce($1::text[] <@ ARRAY['PENDING'], false) OR r.number > 0)
    ORDER BY CASE WHEN $10::timestamptz IS NULL AND $5::text[] IS NULL AND $6::bigint IS NULL THEN r.number ELSE r.number + 0 END
    LIMIT $18::bigint OFFSET $19::bigint
    ) page
    JOIN provisioning_requests p ON p.number = page.number
) r
LEFT JOIN subscriptions s ON $20::boolean AND s.id = r.subscription_id
LEFT JOIN installed_items sc ON $20::boolean AND sc.ca_id = r.smartcard_ca_id
LEFT JOIN installed_items stb ON $20::boolean AND stb.ca_id = r.stb_ca_id
LEFT JOIN import_files f ON $20::boolean AND f.id = r.source_file_id
ORDER BY r.number
