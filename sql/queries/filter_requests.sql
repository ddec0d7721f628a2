-- The requests that match the operator's filters (ops.Filter), in number order, every
-- field with the names of what they refer to. A parameter left NULL ('' or 0 for
-- the scalars) does not filter:
-- $1 states, $2 types, $3 priorities, $4 error codes (text[]); $5 smartcard (CA id or
-- serial number); $6 subscription number; $7 import file (id, recorded name); $8 the
-- LIKE pattern of the names the inbox stamps for a dropped name; $9/$10 created
-- since/until, $11/$12 executed since/until (timestamptz; since inclusive, until
-- exclusive); $13 number; $14 the most rows to return (NULL: all).
SELECT r.id, r.number, r.type, r.life_cycle_state, r.priority, r.sequence_number,
       r.scheduled_date, r.executed_date, r.process_immediately,
       coalesce(r.request, '') AS request, coalesce(r.response, '') AS response,
       coalesce(r.reference_number, '') AS reference_number,
       coalesce(r.error_code, '') AS error_code, coalesce(r.error_description, '') AS error_description,
       coalesce(r.process_name, '') AS process_name, r.process_id,
       coalesce(s.number, '') AS subscription_number,
       r.smartcard_ca_id, coalesce(sc.serial_number, '') AS smartcard_serial_number,
       coalesce(r.service_ca_ids, '{}') AS service_ca_ids,
       coalesce(r.stb_ca_id, '') AS stb_ca_id, coalesce(stb.serial_number, '') AS stb_serial_number,
       coalesce(r.pin, '') AS pin, coalesce(r.reference, '') AS reference,
       r.source_file_id, coalesce(f.name, '') AS source_file, r.source_line,
       r.attempts, r.next_attempt_at, r.claimed_by, r.lease_expires_at,
       r.command_generation, r.retries, r.retried_at, coalesce(r.retried_error, '') AS retried_error,
       r.created_at, r.updated_at
FROM provisioning_requests r
LEFT JOIN subscriptions s ON s.id = r.subscription_id
LEFT JOIN installed_items sc ON sc.ca_id = r.smartcard_ca_id
LEFT JOIN installed_items stb ON stb.ca_id = r.stb_ca_id
LEFT JOIN import_files f ON f.id = r.source_file_id
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
ORDER BY r.number
LIMIT $14::bigint
