-- `requests list --state REJECTED` (in number order, no settlement range) on
-- statistics that know no REJECTED request: the importer's refresh
-- (analyze_requests.sql) samples the table while its file's rows are PENDING, and at
-- a small history every sampled row is PENDING until the next ANALYZE. The planner
-- then costs two indexes of the REJECTED requests at one row each: this one, by
-- settlement time, read whole and sorted by number, and
-- provisioning_requests_rejected_code_created, by number, which stops at the page.
-- It took this one, whose predicate (the state alone) any REJECTED filter implies:
-- 55,772 entries read and sorted for a page of 101, 90-1,800 ms at 0 after an import
-- and a run (docs/benchmarks.md, "Cost as history grows"; ops
-- TestRejectedPlansOnStaleStatistics).
--
-- "executed_date IS NOT NULL" (true of every REJECTED request: the write-back and
-- the cancel lever set it) keeps it for what it is for: every read that names a
-- settlement range (executed_date >= / <, which imply it) or lists by settlement
-- time (sql.FilterRequestsExecuted says it) still takes it; a list by number of the
-- state alone does not imply it and walks rejected_code_created.
--
-- On a large history CREATE INDEX holds off writes while it builds (a pass over the
-- table): create it beforehand with CREATE INDEX CONCURRENTLY under the same name
-- and definition, and IF NOT EXISTS skips it.
CREATE INDEX IF NOT EXISTS provisioning_requests_rejected_executed ON provisioning_requests (executed_date)
    WHERE life_cycle_state = 'REJECTED' AND executed_date IS NOT NULL;
DROP INDEX IF EXISTS provisioning_requests_rejected;
