// Package dispatcher is the processing run: it claims due PENDING requests, sends
// them to the CAS gateway in batches (client.go speaks docs/cas-gateway.md)
// and writes back on each request what the gateway said.
//
// # Order
//
// The ordering rule is stated once, in docs/processing-run.md ("Order"): EXPRESS
// before REGULAR, then by sequence number; only the head of each smartcard's queue
// is claimed, and stays claimed until its outcome is written back; REGULAR heads that
// block an EXPRESS request are promoted. sql/queries/claim_requests.sql implements
// each claim; the Pipeline below is why batches already claimed may pass a promoted
// head. Batches leave in the order they were claimed.
//
// # Pipeline
//
// A run is claims, sends and write-backs at once. One claim at a time keeps up to
// Concurrency batches claimed ahead of the slots. Each of the Concurrency send
// slots takes the next batch, waits for the rate limit and any pause the gateway
// asked for, sends it, and is free again as soon as the gateway answers: the answer
// goes to a bounded pool of writers (half the slots, at most four), which merge the
// answers waiting into one write-back statement of up to 500 requests. When the
// writers fall behind, the slots wait to hand over their answers: nothing piles up.
//
// # Claims are leases
//
// A claim sets claimed_by (the run's process id) and lease_expires_at, columns in no
// index, on a table kept 30% empty per page (migration 000007): so a claim is a HOT
// update, its new row version in the same page and no index touched. Runs on any
// number of hosts claim with FOR UPDATE SKIP LOCKED and never take each other's
// requests. A run that dies leaves its leases to expire; the requests are then
// claimed again and resent with the same command_id (provisioning.CommandID; the rule is in
// docs/processing-run.md, "The command_id"), which the gateway answers as a replay
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
// to find the bad one; 401/403 stop the run and release its claims untouched, those
// waiting for a slot included. E_MAX_ATTEMPTS also needs MaxAttemptsAge since the
// first counted send (first_attempt_at), so that no outage shorter than that
// rejects anything.
//
// A batch whose connection was never made (Unreachable: refused, DNS, dial timeout)
// was not sent at all: its requests are written back PENDING, attempts unchanged and
// due at once, and the run fails (exit 1, FAILED), its queued batches released.
//
// # The history of every send
//
// Every command sent is a row of request_attempts (the outcome kind, times, batch,
// HTTP status, error, replayed), inserted by the write-back statement itself from
// the same arrays (outcome.send), so the history and the request never disagree.
//
// # Stopping
//
// On SIGTERM (ctx cancelled), or at MaxDuration, a run stops claiming; the batches
// being sent are seen through and every answer is written back; the batches still
// waiting for a slot are released unsent. A claim (or the preparing of one) stuck in
// the database is cancelled at once and takes nothing; write-backs and releases are
// not cancelled but end within the connection's statement_timeout (store.Open), and a
// write-back that fails fails the run, so that its requests wait for their leases
// and are never sent twice by the same run.
//
// # Statistics
//
// The claim is planned on PostgreSQL's statistics, which a bulk import into a table
// of settled history leaves saying "no pending rows". Run first analyses the table
// when they hide most of the pending requests (store.RefreshRequestStats), and the
// statements are written so that their plans hold without that: every step from one
// row to the next is an index lookup (sql/queries/claim_requests.sql). A run that fails (401/403, a claim or a write-back failing, a
// panic in any of its goroutines) stops the same way, and no claim runs while a
// refused batch is given back. A panic fails the run with what and where instead of
// crashing the process, which may be the scheduler's; a batch caught in it keeps its
// leases, which expire, and its requests are sent again as after a crash.
//
// # Files
//
// options.go: the settings, their defaults and ranges (the flags and the
// configuration file take theirs from it). dispatcher.go: a run's start, record and
// summary. pipeline.go: the run's state and the pipeline that joins the claim
// (claim.go), the sends (send.go, through client.go) and the write-backs
// (writeback.go).
package dispatcher
