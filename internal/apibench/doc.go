// Package apibench is `make bench` for the Web API (scripts/bench-api.sh,
// cmd/apibench): how many requests `provisioner serve` creates per second for 32
// callers at once, beside pgbench's TPC-B-like transactions per second on the same
// server, and how long a call with process_immediately takes against a gateway
// simulator with no latency, measured in one run and alternated over rounds.
//
// One run generates reference data (package samplegen), creates a database of its
// own, migrates it, loads the reference data and issues a token with the real
// binary, starts `cas-simulator` and `provisioner serve` as operators would, and
// initialises a second database with `pgbench -i`. Then, for a few rounds, in turn:
//
//   - pgbench: `pgbench -c 32 -j 2 -T D` (the built-in TPC-B-like script): the
//     server's rate of small read-write transactions, each committed with
//     synchronous_commit on, which is what a create is too. The baseline;
//   - creates: 32 goroutines call add_services (no process_immediately) for D
//     seconds over keep-alive HTTP connections; every answer must be 200;
//   - immediate: calls of add_services with process_immediately one after the
//     other, each on a card with nothing pending, every answer COMPLETED: the
//     latency of a call that creates a request and sends it to the gateway.
//
// The CPU time of serve and of the bench database's PostgreSQL processes is read
// from /proc (package internal/procwatch) for the creates, and of pgbench and its
// database for the baseline, to compare CPU per create with CPU per transaction.
// Medians over the rounds are printed beside the goals of issue 16: creates/s at
// least 0.8 × pgbench's TPS, and the immediate call's median under 15 ms.
//
// With Config.Base (apibench -base BUILD), a second serve of another build runs on
// the same database, and the immediate calls alternate between the two, call by
// call: the change's effect on the latency measured in one run, under the same load.
package apibench
