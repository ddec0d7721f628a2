CREATE INDEX IF NOT EXISTS provisioning_requests_smartcard ON provisioning_requests (smartcard_ca_id, number);
CREATE INDEX IF NOT EXISTS provisioning_requests_subscription ON provisioning_requests (subscription_id, number);
DROP INDEX IF EXISTS provisioning_requests_smartcard_settled;
DROP INDEX IF EXISTS provisioning_requests_smartcard_unsettled;
DROP INDEX IF EXISTS provisioning_requests_subscription_settled;
DROP INDEX IF EXISTS provisioning_requests_subscription_unsettled;
