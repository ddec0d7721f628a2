-- One request created by the Web API: the importer's columns, in the same order
-- (copy_requests.sql; values from importer.RequestValues), then the SHA-256 of the
-- call's token ($11): the request's source is that token, and its name is the token
-- that created the request and last changed it (the CRM's created_by_user and
-- updated_by_user). The token is checked here, in the statement that writes, so that
-- a token revoked after the call's first check (the API keeps checked tokens a few
-- seconds) creates nothing: no row comes back, and the call is answered 401.
-- It returns the request with filter_requests.sql's columns, the names left '' as
-- the Web API reads them ($19 false there): the answer needs no second statement.
INSERT INTO provisioning_requests AS r (type, priority, scheduled_date, process_immediately, subscription_id,
                                        smartcard_ca_id, service_ca_ids, stb_ca_id, pin, reference,
                                        source_token_id, created_by_token, updated_by_token)
SELECT $1::text, $2::text, $3::timestamptz, $4::boolean, $5::bigint, $6::text, $7::text[], $8::text, $9::text, $10::text,
       t.id, t.name, t.name
FROM api_tokens t
WHERE t.token_sha256 = $11::text AND t.revoked_at IS NULL
RETURNING r.id, r.number, r.type, r.life_cycle_state, r.priority, r.sequence_number,
          r.scheduled_date, r.executed_date, r.process_immediately,
          r.request, r.response, r.reference_number, r.error_code, r.error_description,
          r.process_name, r.process_id,
          '' AS subscription_number,
          r.smartcard_ca_id, '' AS smartcard_serial_number,
          coalesce(r.service_ca_ids, '{}') AS service_ca_ids,
          coalesce(r.stb_ca_id, '') AS stb_ca_id, '' AS stb_serial_number,
          coalesce(r.pin, '') AS pin, coalesce(r.reference, '') AS reference,
          r.source_file_id, '' AS source_file, r.source_line,
          r.attempts, r.next_attempt_at, r.claimed_by, r.lease_expires_at,
          r.command_generation, r.retries, r.retried_at, coalesce(r.retried_error, '') AS retried_error,
          r.held_at, coalesce(r.held_by, '') AS held_by, coalesce(r.held_reason, '') AS held_reason,
          r.created_at, r.updated_at,
          coalesce(r.created_by_token, '') AS created_by_token, coalesce(r.updated_by_token, '') AS updated_by_token
