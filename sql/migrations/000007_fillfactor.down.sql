ALTER TABLE provisioning_requests RESET (fillfactor);
