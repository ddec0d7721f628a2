-- One request created by the Web API: the importer's columns, in the same order
-- (copy_requests.sql; values from importer.RequestValues), then the token of the
-- call ($11) as the request's source, and its name ($12) as the token that created
-- the request and last changed it (the CRM's created_by_user and updated_by_user).
INSERT INTO provisioning_requests (type, priority, scheduled_date, process_immediately, subscription_id,
                                   smartcard_ca_id, service_ca_ids, stb_ca_id, pin, reference,
                                   source_token_id, created_by_token, updated_by_token)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
RETURNING id
