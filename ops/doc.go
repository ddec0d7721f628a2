// Package ops is the operator's view of the request queue and their hands on it: the
// figures of `provisioner status` (Snapshot), the requests that match a Filter (List,
// Count, Get; the Web API's show and list read them so too), the retry of rejected
// requests (Retry), the levers on PENDING requests (Pull: hold, release, cancel,
// reschedule, priority), the pauses of jobs and of the queue (SetPause, Resume,
// PauseOf, which the scheduler's ledger and the processing run read), and the
// append-only audit trail every lever writes (Audit, ListAudit). It reads and writes
// the database only; package cli prints what it returns, and a web console would call
// the same functions.
//
// # Levers
//
// A lever changes PENDING requests that are not in flight (no lease, or an expired
// one), in one transaction with its audit entry: it locks them FOR UPDATE, which the
// claim (sql/queries/claim_requests.sql, FOR UPDATE SKIP LOCKED, re-checking hold,
// state and scheduled date on the rows it locks) respects, so a request is either
// claimed and sent or changed, never both. See docs/operating.md.
//
// # Retry
//
// Retry puts REJECTED requests back to PENDING under their own number, attempts
// reset and error cleared, with two rules that follow from the gateway's interface
// (docs/cas-gateway.md), each stated once in docs/:
//
//   - The command_id (docs/processing-run.md, "The command_id"): a request the
//     gateway itself rejected has its command_generation raised, so that it is sent
//     under a new command_id (provisioning.CommandID); any other keeps its own.
//   - The order (docs/operating.md, "Retrying rejected requests"): a retried request
//     takes a new sequence number, the retried ones in their old order, so that it
//     goes behind what is already queued for its card.
package ops
