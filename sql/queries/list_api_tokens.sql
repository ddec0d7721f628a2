-- Every token issued, live or revoked, with how many requests each created: counted
-- up to $1 (NULL: all of them), as the console's Operators and tokens page counts
-- them (a token of the Web API's millions of requests took a scan of its index
-- entries at every load).
SELECT t.id, t.name, t.created_at, t.revoked_at,
       (SELECT count(*) FROM (SELECT 1 FROM provisioning_requests r WHERE r.source_token_id = t.id LIMIT $1::bigint) c) AS requests
FROM api_tokens t
ORDER BY t.name, t.created_at
