-- The oldest due PENDING request, by its number $1: what queue_counts.sql found the
-- earliest due (claimable now and the head of its card's queue, earliest due first,
-- then by sequence), in the same transaction (ops.Snapshot). Its attempts and why
-- its last send did not settle it ('' if never sent). Looked up by number rather
-- than found by a second pass over the PENDING requests: at 10 million requests a
-- pass reads a page per PENDING request (about 1 s for 41,000).
SELECT number, attempts, coalesce(error_code, '') AS error_code
FROM provisioning_requests
WHERE number = $1
