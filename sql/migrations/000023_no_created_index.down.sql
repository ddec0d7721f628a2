CREATE INDEX IF NOT EXISTS provisioning_requests_created ON provisioning_requests (created_at, number);
