-- Requests created by Web API calls, one or several in one statement and one commit:
-- the calls that arrive while the previous insert is under way are written together
-- by the next (the API's group commit, api/batch.go). The VALUES are a row per call:
-- its key in the batch, the importer's columns in the same order (copy_requests.sql;
-- values from store.RequestValues), then the SHA-256 of the call's token: the
-- request's source is that token, and its name is the token that created the request
-- and last changed it (the CRM's created_by_user and updated_by_user). The token is
-- checked here, in the statement that writes, so that a token revoked after the
-- call's first check (the API keeps checked tokens a few seconds) creates nothing:
-- no row comes back for that call, and it is answered 401.
-- The number is drawn here, as the column's default would, so that each request
-- comes back with the key of its call (RETURNING sees only the table's columns).
-- It returns each request with its key and filter_requests.sql's columns, the names
-- left '' as the Web API reads them ($19 false there): the answer needs no second
-- statement.
WITH v AS MATERIALIZED (
    SELECT v.key, v.type, v.priority, v.scheduled_date, v.process_immediately, v.subscription_id,
           v.smartcard_ca_id, v.service_ca_ids, v.stb_ca_id, v.pin, v.reference,
           t.id AS token_id, t.name AS token_name, nextval('provisioning_request_number_seq') AS number
    FROM (VALUES {{values}}) AS v (key, type, priority, scheduled_date, process_immediately, subscription_id,
                                   smartcard_ca_id, service_ca_ids, stb_ca_id, pin, reference, token_sha256)
    JOIN api_tokens t ON t.token_sha256 = v.token_sha256 AND t.revoked_at IS NULL
), r AS (
    INSERT INTO provisioning_requests (number, type, priority, scheduled_date, process_immediately, subscription_id,
                                       smartcard_ca_id, service_ca_ids, stb_ca_id, pin, reference,
                                       source_token_id, created_by_token, updated_by_token)
    SELECT number, type, priority, scheduled_date, process_immediately, subscription_id,
           smartcard_ca_id, service_ca_ids, stb_ca_id, pin, reference, token_id, token_name, token_name
    FROM v
    ORDER BY key
    RETURNING *
)
SELECT v.key,
       r.id, r.number, r.type, r.life_cycle_state, r.priority, r.sequence_number,
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
FROM r JOIN v USING (number)
