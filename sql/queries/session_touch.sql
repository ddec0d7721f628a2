-- The session of a page ($1 SHA-256 of the cookie's secret, $2 now, $3 the new
-- expiry): moves its idle expiry on and returns it with its operator, none when it
-- has expired, is unknown, or its operator is disabled.
UPDATE console_sessions s
SET last_seen_at = $2, expires_at = $3
FROM operators o
WHERE s.id_sha256 = $1 AND s.expires_at > $2 AND o.id = s.operator_id AND NOT o.disabled
RETURNING o.id AS operator_id, o.name, o.role, s.csrf_token
