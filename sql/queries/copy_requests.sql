COPY provisioning_requests (type, priority, scheduled_date, process_immediately, subscription_id,
                            smartcard_ca_id, service_ca_ids, stb_ca_id, pin, reference,
                            source_file_id, source_line)
FROM STDIN
