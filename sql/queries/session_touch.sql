-- The session of a page ($1 SHA-256 of the cookie's secret, $2 now, $3 the new
-- expiry, $4 whether to move it: false for the overview's automatic refresh, which
-- is not the operator at the page): moves its idle expiry on and returns it with its
-- operator, none when it has expired, is unknown, or its operator is disabled.
UPDATE console_sessions s
SET last_seen_at = CASE WHEN $4::boolean THEN $2 ELSE s.last_seen_at END,
    expires_at = CASE WHEN $4::boolean THEN $3 ELSE s.expires_at END
FROM operators o
WHERE s.id_sha256 = $1 AND s.expires_at > $2 AND o.id = s.operator_id AND NOT o.disabled
RETURNING o.id AS operator_id, o.name, o.role, s.csrf_token
