-- The Web API's answers name the token (the CRM's "username") that created a
-- request and the one that last changed it: log_information.created_by_user and
-- updated_by_user. The name is kept, not only source_token_id, so that the request
-- still says who made it whatever becomes of the token. NULL: no token (a file).
-- IF NOT EXISTS: another change (requests show's source) may add created_by_token
-- with the same name and type.
ALTER TABLE provisioning_requests
    ADD COLUMN IF NOT EXISTS created_by_token text,
    ADD COLUMN IF NOT EXISTS updated_by_token text;

-- The requests the API created before: their token's name. Only those rows have a
-- source_token_id (a partial index, 000005).
UPDATE provisioning_requests r
SET created_by_token = coalesce(r.created_by_token, t.name),
    updated_by_token = coalesce(r.updated_by_token, r.created_by_token, t.name)
FROM api_tokens t
WHERE r.source_token_id IS NOT NULL AND t.id = r.source_token_id
  AND (r.created_by_token IS NULL OR r.updated_by_token IS NULL);
