-- Disables a console operator ($1 name, $2 now) and ends its sessions (console_sessions
-- rows cascade only on delete). Returns the id, none when no such operator.
WITH op AS (
    UPDATE operators SET disabled = true, updated_at = $2 WHERE name = $1 RETURNING id
), gone AS (
    DELETE FROM console_sessions s USING op WHERE s.operator_id = op.id
)
SELECT id FROM op
