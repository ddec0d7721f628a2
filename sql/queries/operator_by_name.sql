-- One console operator by name, with the hash, for the sign-in ($1 name). FOR
-- UPDATE: two sign-ins at once count their failures one after the other.
SELECT id, name, role, password_hash, disabled, failed_signins, locked_until, created_at, updated_at
FROM operators
WHERE name = $1
FOR UPDATE
