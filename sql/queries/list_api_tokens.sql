-- Every token issued, live or revoked, with how many requests each created.
SELECT t.id, t.name, t.created_at, t.revoked_at,
       (SELECT count(*) FROM provisioning_requests r WHERE r.source_token_id = t.id) AS requests
FROM api_tokens t
ORDER BY t.name, t.created_at
