-- The requests that match a filter (ops.Filter), in number order, every field with
-- the names of what they refer to: `provisioner requests list|show|retry` and the
-- Web API's show and list. A parameter left NULL ('' or 0 for the scalars) does not
-- filter:
-- $1 states, $2 types, $3 priorities, $4 error codes (text[]); $5 smartcard (CA id or
-- serial number); $6 subscription number; $7 import file (id, recorded name); $8 the
-- LIKE pattern of the names the inbox stamps for a dropped name; $9/$10 created
-- since/until, $11/$12 executed since/until (timestamptz; since inclusive, until
-- exclusive); $13 number; $14 the gateway's reference number; $15 id; $16 numbers
-- after this one only (keyset paging: the console's Requests page); $17 the most
-- rows to return (NULL: all), from offset $18; $19 false leaves the names ''
-- (subscription number, serial numbers, file name) and joins nothing: the Web API
-- does not show them, and the joins tripled the time of a page of 1,000.
-- request, response, reference_number, error_code, error_description and
-- process_name are as stored, NULL included: the Web API tells NULL (never set) from
-- '' (a send without an answer writes an empty response). created_by_token and
-- updated_by_token are '' for a request no token created (an import file's).
-- The WHERE clause is count_requests.sql's, word for word (sql's tests check it).
-- With a since bound ($9 or $11), the page's rows are taken through the time's
-- index (migration 000019) and sorted: "r.number + 0" is not the number index's
-- order. The planner, which assumes matching rows spread evenly over the numbers,
-- would otherwise walk the number index from the oldest request through every one
-- created or settled before the bound (seconds on 10 million requests). Without
-- one, the walk in number order stops at the limit. So too for the PENDING
-- requests alone: the newest, they come last in number order, behind every settled
-- one; they are read through their partial indexes and sorted instead. The parameters are bound
-- before planning (no named statements), so the CASE folds to one or the other.
-- The page is chosen by number alone, and only its rows are read whole: a day's
-- rows (110,000 of 10 million) are then sorted from the time's index (which holds
-- the number: an index-only scan on a vacuumed history), not fetched from the
-- table one by one.
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
      AND ($4::text[] IS NULL OR r.error_code = ANY ($4::text[]))
      AND ($5::text = '' OR r.smartcard_ca_id = $5::text
           OR r.smartcard_ca_id = (SELECT i.ca_id FROM installed_items i WHERE i.serial_number = $5::text AND i.kind = 'SMARTCARD'))
      AND ($6::text = '' OR r.subscription_id = (SELECT x.id FROM subscriptions x WHERE x.number = $6::text))
      AND ($7::text = '' OR r.source_file_id IN (
           SELECT g.id FROM import_files g
           WHERE g.id::text = $7::text OR g.name = $7::text OR g.name LIKE $8::text))
      AND ($9::timestamptz IS NULL OR r.created_at >= $9::timestamptz)
      AND ($10::timestamptz IS NULL OR r.created_at < $10::timestamptz)
      AND ($11::timestamptz IS NULL OR r.executed_date >= $11::timestamptz)
      AND ($12::timestamptz IS NULL OR r.executed_date < $12::timestamptz)
      AND ($13::bigint = 0 OR r.number = $13::bigint)
      AND ($14::text = '' OR r.reference_number = $14::text)
      AND ($15::bigint = 0 OR r.id = $15::bigint)
      AND ($16::bigint = 0 OR r.number > $16::bigint)
    ORDER BY CASE WHEN $9::timestamptz IS NULL AND $11::timestamptz IS NULL AND NOT coalesce($1::text[] <@ ARRAY['PENDING'], false)
                  THEN r.number ELSE r.number + 0 END
    LIMIT $17::bigint OFFSET $18::bigint
    ) page
    JOIN provisioning_requests p ON p.number = page.number
) r
LEFT JOIN subscriptions s ON $19::boolean AND s.id = r.subscription_id
LEFT JOIN installed_items sc ON $19::boolean AND sc.ca_id = r.smartcard_ca_id
LEFT JOIN installed_items stb ON $19::boolean AND stb.ca_id = r.stb_ca_id
LEFT JOIN import_files f ON $19::boolean AND f.id = r.source_file_id
ORDER BY r.number
