-- Every console operator, by name (operators list): never the hash.
SELECT id, name, role, disabled, failed_signins, locked_until, created_at, updated_at
FROM operators
ORDER BY name
