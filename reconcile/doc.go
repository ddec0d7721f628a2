// Package reconcile is the reconciliation run (`provisioner reconcile`, the
// reconcile job): it compares the CRM's expected state of each card (the
// entitlements of the reference data) with the state the CAS gateway holds, reports
// every difference in a drift report, and creates the requests that set it right.
//
// Cards are read in chunks of ChunkSize (--all: through one cursor; other scopes:
// by keyset), a few chunks ahead, and handed to Concurrency workers; each worker
// marks its chunk's busy cards (a PENDING request: left alone), asks the gateway for
// the others in one POST /v1/smartcards/query (GET one by one, bounded, on a gateway
// without the query), and goes on to its next query while the answer is compared
// beside it and what the report needs looked up (one statement a chunk). The one
// sequential step, handle, takes the chunks in the order read, counts, writes the
// report and creates the corrections a thousand at a time. Only the chunks in flight
// are held, so memory stays flat in the fleet's size. Corrections are ordinary requests,
// checked by the instruction rules of package provisioning as an imported row is,
// with the run as their source. They are written in one transaction that commits at
// the end only if they touch at most MaxCorrections of the cards checked (or Force):
// a truncated entitlements file must not cancel a fleet's services.
package reconcile
