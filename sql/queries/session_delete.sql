-- Signs a console session out ($1 SHA-256 of the cookie's secret).
DELETE FROM console_sessions WHERE id_sha256 = $1
