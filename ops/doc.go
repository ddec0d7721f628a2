// Package ops is the operator's view of the request queue and their one hand on it:
// the figures of `provisioner status` (Snapshot), the requests that match a Filter
// (List, Count, Get; the Web API's show and list read them so too) and the retry of
// rejected requests (Retry). It reads and writes the database only; package cli
// prints what it returns.
//
// # Retry
//
// Retry puts REJECTED requests back to PENDING under their own number, attempts
// reset and error cleared, with two rules the gateway's interface
// (../shared/cas-gateway-api.md) imposes:
//
//   - The command_id. The gateway stores each command_id's outcome forever and
//     answers a resend with it ("replayed"). A request the gateway itself rejected
//     (its stored response is a REJECTED result) gets a new command_id for its new
//     attempt, or it would only get its rejection back: its command_generation is
//     raised and it is sent as "NUMBER.GENERATION" (provisioning.CommandID). A request
//     rejected here without a settled answer from the gateway (E_MAX_ATTEMPTS after
//     timeouts, 5xx or RETRY; a command refused before sending; a batch the gateway
//     refused whole with 400) keeps its command_id: the gateway may have applied it
//     (or holds nothing for it), and a new id could apply it twice.
//   - The order. The gateway must see each smartcard's commands in sequence order,
//     and only the head of a card's queue is sent. A retried request takes a new
//     sequence number, the retried ones among themselves in their old order, so that
//     it goes behind what is already queued for its card, as if the operator had
//     submitted it again now. Keeping its old number would put it ahead of requests
//     that were queued, and maybe planned, after its rejection.
package ops
