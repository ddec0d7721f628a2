-- The importer at ten million settled requests (issue 16, part 3; docs/benchmarks.md,
-- "Cost as history grows"). Migration 000018's indexes of every request by card and
-- by subscription (hundreds of MB at that size) took an entry for every imported row,
-- each on a leaf of its own (the rows' cards are spread over the whole fleet), cold
-- and not dirtied since the last checkpoint: a read and a full-page image per row and
-- index, half an import's time and 70% of its WAL. Each is split in two here:
--
-- - the settled requests (not PENDING): an import adds nothing to it. A request
--   enters it when its write-back settles it, which (a non-HOT update: the state is
--   in the claim's predicates) added an entry to the index of every request before,
--   so the processing run makes no more entries than it did;
-- - the ones not settled: small (what waits, and the entries of requests settled
--   since the last vacuum), one entry per import or create, none per write-back.
--
-- filter_requests.sql reads a card's or a subscription's requests from both (a
-- BitmapOr, then a sort of that card's few rows): its condition says "not PENDING, or
-- neither COMPLETED nor REJECTED", whose arms each imply one index's predicate.
--
-- Why not "life_cycle_state = 'PENDING'" for the second, and the card's queue index
-- (provisioning_requests_card_queue) for a card's pending ones: an arm that says
-- PENDING lets the planner take any index of PENDING requests for it, and on
-- statistics that predate an import (no PENDING rows: each such index costed at
-- nothing) it took the claim's, whose walk reads every PENDING request. No index of
-- PENDING requests alone is implied by these arms.
--
-- The column's "IS NOT NULL" on all four (a filter by the card implies it, one by
-- the subscription does not, and the other way round) keeps a subscription's list
-- from the card's indexes and a card's from the subscription's: without it, a card's
-- list read the whole subscription_settled index when the statistics had been taken
-- while every request was PENDING (after an import, before its processing run:
-- settled ones costed at nothing), and a subscription's the card's unsettled one on
-- statistics from before an import (ops TestByCardPlansOnStaleStatistics, both
-- ways). It also keeps the subscription's unsettled index from the claim, which names
-- no subscription; the claim's card-queue probes may take the card's (it holds the
-- card's PENDING requests, as provisioning_requests_card_queue does, by the card).
-- Not "number > 0" as in migration 000021: the planner estimates it by reading the
-- number index from its left end, where housekeeping's deletions leave dead entries
-- until a vacuum (80-380 ms of planning a list at 10M after 1.7M deletions).
--
-- On a large history each CREATE INDEX holds off writes while it builds (minutes at
-- ten million rows): create them beforehand with CREATE INDEX CONCURRENTLY under the
-- same names and definitions, and IF NOT EXISTS skips them.
CREATE INDEX IF NOT EXISTS provisioning_requests_smartcard_settled ON provisioning_requests (smartcard_ca_id, number)
    WHERE life_cycle_state <> 'PENDING' AND smartcard_ca_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS provisioning_requests_smartcard_unsettled ON provisioning_requests (smartcard_ca_id, number)
    WHERE life_cycle_state <> 'COMPLETED' AND life_cycle_state <> 'REJECTED' AND smartcard_ca_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS provisioning_requests_subscription_settled ON provisioning_requests (subscription_id, number)
    WHERE life_cycle_state <> 'PENDING' AND subscription_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS provisioning_requests_subscription_unsettled ON provisioning_requests (subscription_id, number)
    WHERE life_cycle_state <> 'COMPLETED' AND life_cycle_state <> 'REJECTED' AND subscription_id IS NOT NULL;
DROP INDEX IF EXISTS provisioning_requests_smartcard;
DROP INDEX IF EXISTS provisioning_requests_subscription;
