// Package dispatcher is the processing run: it claims due PENDING requests, sends
// them to the CAS gateway in batches (client.go speaks ../shared/cas-gateway-api.md)
// and writes back on each request what the gateway said.
//
// # Order
//
// Requests are claimed EXPRESS before REGULAR, then by sequence number. A request is
// never sent while an earlier request (lower sequence number) for the same smartcard
// is still pending, in flight, or waiting for a retry, or is scheduled for later:
// only the head of each smartcard's queue can be claimed, so a card has at most one
// request in flight and its requests reach the gateway in sequence order. When a
// card's queue holds an EXPRESS request behind REGULAR ones, those REGULAR heads are
// promoted: they go with the EXPRESS work, ahead of other REGULAR requests, so the
// urgent request is not stuck behind the whole queue (sql/queries/claim_requests.sql).
//
// # Claims are leases
//
// A claim sets claimed_by (the run's process id) and lease_expires_at. Runs on any
// number of hosts claim with FOR UPDATE SKIP LOCKED and never take each other's
// requests. A run that dies leaves its leases to expire; the requests are then
// claimed again and resent with the same command_id (the request's number; see
// CommandID for the operator's retries), which the gateway answers as a replay
// instead of applying twice. Write-backs are guarded on
// the request still being PENDING and claimed by the writing run.
//
// # Outcomes
//
// COMPLETED and REJECTED results settle a request. RETRY (E_BUSY), 429, 503 and
// unknown outcomes (other 5xx, timeouts, broken connections) leave it PENDING with
// attempts raised and next_attempt_at after a capped exponential backoff with jitter
// (at least the gateway's Retry-After); after MaxAttempts it is REJECTED with
// E_MAX_ATTEMPTS and the last error. A 400 for a batch is resent command by command
// to find the bad one; 401/403 stop the run and release its claims untouched.
package dispatcher
