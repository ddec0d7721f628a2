DROP INDEX provisioning_requests_rejected;
ALTER TABLE provisioning_requests
    DROP COLUMN command_generation,
    DROP COLUMN retries,
    DROP COLUMN retried_at,
    DROP COLUMN retried_error;
