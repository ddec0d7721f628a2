// Package reconcile is the reconciliation run (`provisioner reconcile`, the
// reconcile job): it compares the CRM's expected state of each card (the
// entitlements of the reference data) with the state the CAS gateway holds, reports
// every difference in a drift report, and creates the requests that set it right.
//
// Cards are read in chunks of ChunkSize by keyset and asked of the gateway in one
// POST /v1/smartcards/query each (GET one by one, bounded, on a gateway without the
// query), several chunks in flight, so memory stays flat in the fleet's size. A card
// with a PENDING request is busy and left alone. Corrections are ordinary requests,
// checked by the instruction rules of package provisioning as an imported row is,
// with the run as their source. They are written in one transaction that commits at
// the end only if they touch at most MaxCorrections of the cards checked (or Force):
// a truncated entitlements file must not cancel a fleet's services.
package reconcile
