-- Requests as the Web API shows them, in number order: by id ($1) or number ($2)
-- when not 0; filtered on type ($3), life cycle state ($4) and the gateway's
-- reference number ($5) when not ''; $6 rows from offset $7.
SELECT id, number, type, life_cycle_state, priority, sequence_number, scheduled_date, executed_date,
       process_immediately, request, response, reference_number, error_code, error_description,
       process_name, process_id, smartcard_ca_id, coalesce(service_ca_ids, '{}') AS service_ca_ids,
       coalesce(stb_ca_id, '') AS stb_ca_id, created_at, updated_at
FROM provisioning_requests
WHERE ($1::bigint = 0 OR id = $1::bigint)
  AND ($2::bigint = 0 OR number = $2::bigint)
  AND ($3::text = '' OR type = $3::text)
  AND ($4::text = '' OR life_cycle_state = $4::text)
  AND ($5::text = '' OR reference_number = $5::text)
ORDER BY number
LIMIT $6 OFFSET $7
