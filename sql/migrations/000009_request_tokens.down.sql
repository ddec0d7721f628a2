ALTER TABLE provisioning_requests
    DROP COLUMN IF EXISTS updated_by_token,
    DROP COLUMN IF EXISTS created_by_token;
