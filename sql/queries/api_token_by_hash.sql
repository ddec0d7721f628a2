-- The live token whose secret hashes to $1 (SHA-256, hex).
SELECT id, name FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL
