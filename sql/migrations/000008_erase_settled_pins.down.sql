-- The PINs already erased stay erased: they are gone.
DROP TRIGGER IF EXISTS provisioning_requests_erase_pin ON provisioning_requests;
DROP FUNCTION IF EXISTS provisioning_requests_erase_pin();
