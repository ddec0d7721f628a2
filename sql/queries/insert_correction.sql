-- One correction of a reconciliation run: the importer's columns, in the same order
-- (copy_requests.sql; values from store.RequestValues), then the run ($11) as the
-- request's source.
INSERT INTO provisioning_requests (type, priority, scheduled_date, process_immediately, subscription_id,
                                   smartcard_ca_id, service_ca_ids, stb_ca_id, pin, reference,
                                   source_reconcile_run_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING number
