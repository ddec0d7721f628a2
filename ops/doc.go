// Package ops is the operator's view of the request queue and their one hand on it:
// the figures of `provisioner status` (Snapshot), the requests that match a Filter
// (List, Count, Get; the Web API's show and list read them so too) and the retry of
// rejected requests (Retry). It reads and writes the database only; package cli
// prints what it returns.
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
