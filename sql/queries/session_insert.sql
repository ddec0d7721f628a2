-- A new console session ($1 SHA-256 of the cookie's secret, $2 operator id, $3 CSRF
-- token, $4 now, $5 expiry). Expired sessions are deleted on the way.
WITH old AS (DELETE FROM console_sessions WHERE expires_at < $4)
INSERT INTO console_sessions (id_sha256, operator_id, csrf_token, created_at, last_seen_at, expires_at)
VALUES ($1, $2, $3, $4, $4, $5)
