-- Clears the dead rows of the requests and their sends (request_history_needs_vacuum.sql
-- says when), records their free room for the importer's next rows and their
-- all-visible pages for index-only reads, and refreshes their statistics (a
-- deletion of a tenth of the history moves every date's histogram). By
-- housekeeping, as autovacuum cannot be counted on. SKIP_LOCKED: skipped at once,
-- with a warning of the server's, while another vacuum (autovacuum's included) works
-- on a table, rather than wait for it; a plain VACUUM takes no lock a claim, a
-- write-back or an import waits for. PARALLEL 0: one process, so that a processing
-- run at work meanwhile keeps the other cores. Not in a transaction.
VACUUM (SKIP_LOCKED, ANALYZE, PARALLEL 0) provisioning_requests, request_attempts
