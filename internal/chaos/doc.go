// Package chaos is the chaos suite of issue 16: scenarios that break what the
// provisioner stands on (its processes, PostgreSQL, the network, the gateway) while
// it works, and then check the same four things after each of them: every due
// request COMPLETED or REJECTED, none applied twice at the gateway, no smartcard's
// commands applied out of sequence order, every import file imported exactly once.
//
// The scenarios are tests (chaos_test.go and the files beside it) that run the real
// program: the test binary re-executes itself as `provisioner` (cli.Main), so the
// processes it kills with SIGKILL are the program itself, not a model of it. A
// reduced form of each runs in `make test`; `make chaos` runs the full forms with
// -chaos and prints their table (docs/chaos.md).
//
// The scenarios that restart PostgreSQL run it on a cluster of their own
// (internal/pgcluster: initdb, pg_ctl restart -m fast and -m immediate, listen
// addresses of its own). The TCP proxy the scenarios switch between passing,
// refusing and blackholing connections is the project's one, internal/tcpproxy
// (through internal/pgtest.NewProxy).
package chaos
