-- Fresh planner statistics for the requests (store.RefreshRequestStats): after a
-- bulk import, in the file's transaction, and at a run's start when they hide most
-- of the pending requests. What the processing run's statements are planned on, and
-- no more:
--
-- - the table's and its indexes' sizes (pg_class.reltuples, the partial indexes'
--   share of the rows among them), which ANALYZE updates whatever columns it is
--   given;
-- - the columns the claim and the write-back filter and order by.
--
-- A sample of 3,000 rows (statistics target 10 for this ANALYZE only), not the
-- default 30,000: what the sample costs is reading its pages, one random page per
-- row on a table much larger than the sample, and that was 4.1 s of a 22.5 s import
-- of a million rows; this one takes about a tenth of it, the same on a table of 10
-- million (docs/benchmarks.md). 3,000 rows tell the share of PENDING requests, of
-- EXPRESS ones and of those due to a fraction of a percent, which is what the claim's
-- plans turn on (claim_requests.sql). The other columns keep the statistics of the
-- last full ANALYZE (autovacuum's), and these get their finer ones back at the next.
SET LOCAL default_statistics_target = 10;
ANALYZE provisioning_requests (life_cycle_state, priority, scheduled_date, sequence_number, smartcard_ca_id,
                               held_at, next_attempt_at, lease_expires_at, claimed_by, source_file_id,
                               process_immediately);
SET LOCAL default_statistics_target TO DEFAULT
