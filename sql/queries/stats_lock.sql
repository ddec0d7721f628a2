-- One refresh of the requests' statistics at a time, across every host: the
-- transaction's lock; the second waits, then finds the statistics fresh.
SELECT pg_advisory_xact_lock(hashtextextended('provisioner analyze provisioning_requests', 0))
