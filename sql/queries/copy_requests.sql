-- The importer's rows, in file order (their sequence numbers follow it). waits_behind:
-- the row's card has an earlier row in the same file (migration 000031; importer
-- pipeline.go's copy stage).
COPY provisioning_requests (type, priority, scheduled_date, process_immediately, subscription_id,
                            smartcard_ca_id, service_ca_ids, stb_ca_id, pin, reference,
                            source_file_id, source_line, waits_behind)
FROM STDIN
