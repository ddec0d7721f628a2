DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE pauses;
ALTER TABLE provisioning_requests
    DROP COLUMN held_at,
    DROP COLUMN held_by,
    DROP COLUMN held_reason;
