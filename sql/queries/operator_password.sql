-- Sets a console operator's password ($1 name, $2 bcrypt hash, $3 now), clears its
-- lock-out and ends its sessions: a new password signs everyone out. Returns the id,
-- none when no such operator.
WITH op AS (
    UPDATE operators
    SET password_hash = $2, failed_signins = 0, locked_until = NULL, updated_at = $3
    WHERE name = $1
    RETURNING id
), gone AS (
    DELETE FROM console_sessions s USING op WHERE s.operator_id = op.id
)
SELECT id FROM op
