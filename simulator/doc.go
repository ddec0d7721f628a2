// Package simulator is a CAS gateway that behaves as the vendor's page
// (docs/cas-gateway.md, interface version 1) describes, so that the
// dispatcher's tests against it mean something for the real gateway. It is an
// http.Handler: serve it with httptest.NewServer in tests or with
// cmd/cas-simulator on a port.
//
// # What it keeps
//
// For every smartcard it knows: active or disabled, the entitled products, the
// paired STB (at most one, and an STB with at most one card) and the PIN
// (default 0000). For every command_id it answered COMPLETED or REJECTED: the
// payload and the result, so a resend is answered from that store with
// "replayed": true and a resend with another payload gets
// E_COMMAND_ID_REUSED. A RETRY (E_BUSY) is not stored: the command was not
// applied, so a resend must be able to apply it. An E_COMMAND_ID_REUSED
// answer is not stored either: the command_id keeps the outcome of its
// first payload.
//
// A batch is processed under one lock, so its state changes and its entries in
// the applied log are never interleaved with another batch's.
//
// # Decisions on what the page leaves open
//
//   - Checks run in the order of the page's error-code column: for
//     ADD_PRODUCTS E_UNKNOWN_SMARTCARD, then E_SMARTCARD_DISABLED, then
//     E_UNKNOWN_PRODUCT (any listed product); for CANCEL_PRODUCTS every
//     product is checked for E_UNKNOWN_PRODUCT before any for E_NOT_ENTITLED;
//     for PAIR E_UNKNOWN_STB before E_STB_PAIRED_ELSEWHERE.
//   - A disabled card refuses only ADD_PRODUCTS (E_SMARTCARD_DISABLED): the
//     page lists that code for no other type, so CANCEL_PRODUCTS, PAIR,
//     UNPAIR, the PIN commands and RESET_SMARTCARD apply to a disabled card.
//   - PAIR of a card with the STB it is already paired with completes and
//     changes nothing. PAIR with another STB frees the card's earlier STB.
//   - A product listed twice counts once.
//   - Every COMPLETED and REJECTED result, E_COMMAND_ID_REUSED included,
//     carries a fresh reference (GW-00000001, increasing; the page's example
//     shows a reference on REJECTED); RETRY carries none. A replay carries the
//     reference stored with the first answer.
//   - "Another product list" means another sequence: the same products in
//     another order are another payload. The strict reading catches a
//     dispatcher that does not resend byte-for-byte the same request.
//   - The same command_id twice in one batch is processed in order like two
//     sends: the second is a replay (or E_COMMAND_ID_REUSED).
//   - A RETRY is drawn only for a command that would be processed afresh:
//     replays and E_COMMAND_ID_REUSED are answered from the store and are
//     never busy.
//   - Malformed bodies: unknown fields (names match exactly, case included),
//     wrong JSON types, trailing data, and a field that the type does not take
//     even when it is present empty or null all get 400. More than 500
//     commands gets 413 whatever else is wrong, as long as the commands array
//     can be read; a body above 8 MiB gets 413 too.
//   - Every call needs both headers, /v1/health included. The Authorization
//     header must be exactly "Bearer <token>". A bad token wins over a bad
//     destination (401 before 403). A missing X-Destination-Id is unknown: 403.
//   - Bodies: 400 and 404 carry the page's JSON error body; the other non-200
//     answers (401, 403, 413, 429, 500, 503) carry a plain-text description,
//     since the page defines no error code for them.
//   - Retry-After is whole seconds, rounded up, at least 1: Faults.RetryAfter
//     when set, otherwise the time until the rate limiter has a token (429)
//     or 1 second (503).
//   - If the client goes away during the injected latency, the batch is not
//     applied (the latency is spent before applying). Close ends the waits of
//     latency and stall the same way: the connection breaks without an
//     answer, never with an empty 200.
//   - POST /v1/smartcards/query (interface 1.1) takes the rate limit and the
//     503 draw as a batch does (one draw, before the body is read); latency
//     and the after-apply faults are batches' only. Unknown JSON fields get
//     400 as for batches. An unpaired card's stb is null, not absent. Config
//     NoQuery leaves the route out, so the router answers 405, as a 1.0
//     gateway's would.
//   - MakeDrift (POST /sim/drift/{card}) changes a card with no command: no
//     reference, no log entry, no counter; it is the test hook for drift
//     behind the provisioner's back. Known.Entitled cards start (and Reset)
//     in their listed state; Faults.DriftFraction then drifts that share of
//     them, chosen by a generator of its own seeded with Config.Seed.
//
// # Decoding a batch
//
// A batch body is read by two decoders that answer the same: a single-pass
// scan for the shape the dispatcher sends (plain ASCII strings, each field
// once) and the strict encoding/json reading it falls back to on anything
// else, escapes and every malformed body included. The strict one alone
// parsed each body several times over and was the simulator's largest CPU
// cost in the processing run's benchmark, whose figures it lowers since it
// shares the machine; the fallback keeps what is accepted and every error
// text as they were (decode.go, FuzzDecodeBatch). The 200 answer is written
// by hand the same way: json.Marshal writes it instead whenever a string holds
// a byte it would escape (encode.go, FuzzAppendBatchResult).
//
// # Faults and determinism
//
// Every fault is off in the zero Faults. Every random choice comes from one
// generator seeded with Config.Seed, drawn under the lock in this order for
// each authenticated batch: the 503 draw (before the body is read), then,
// for a well-formed batch, the jitter, one draw choosing at most one of
// PartialFailure, DropAfterApply and StallAfterApply (their probabilities
// are consecutive ranges of one uniform number, so they must sum to at most
// 1), the prefix length for PartialFailure, and one Busy draw per command
// processed afresh. A draw is made only when its probability (or Jitter) is
// non-zero. So the same seed and the same sequence of requests give the same
// faults. Which smartcards DisabledFraction disables comes from a second
// generator with the same seed, so changing it does not shift the fault
// sequence. The rate limiter depends on the clock, not on the seed.
//
// # Extra endpoints
//
// Under /sim/, outside the vendor's page and without authentication:
// GET /sim/stats (Stats as JSON), GET /sim/log (the applied log as JSON) and
// POST /sim/reset (back to the state New built, counters and generator
// included). Tests in the same process use Stats, AppliedLog, State and Reset.
package simulator
