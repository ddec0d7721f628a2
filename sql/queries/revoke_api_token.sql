-- Revokes the live token named $1; returns its id, or no row when there is none.
UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING id
