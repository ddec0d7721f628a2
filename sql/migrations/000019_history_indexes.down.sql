DROP INDEX IF EXISTS provisioning_requests_executed;
DROP INDEX IF EXISTS provisioning_requests_created;
DROP INDEX IF EXISTS provisioning_requests_rejected_number;
