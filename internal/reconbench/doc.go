// Package reconbench is `make bench`'s reconciliation benchmark
// (scripts/bench-reconcile.sh): a fleet of Cards smartcards with entitlements for
// all, a gateway simulator in a process of its own that starts every card in its
// entitled state and DriftFraction of them drifted, then, in the same run,
// `provisioner reconcile --all` as operators run it, with its wall time, cards per
// second and peak RSS, printed beside the goals of issue 14 and beside three
// ceilings measured before and after it: the simulator's query-only rate (every card
// asked, nothing else), the database-only rate (reconcile.ReadAll), and both passes
// at once (the rate of the slower: what a perfectly overlapped run could do with the
// database, the gateway and the compare sharing this machine's cores). With Keep the
// fleet stays, and Reuse measures it again without a new one (setting a million
// cards up takes 15 to 22 minutes); with Baseline another build's reconciliation is
// measured in the same run, alternated, with each run's CPU time and PostgreSQL's.
package reconbench
