// Package reconbench is `make bench`'s reconciliation benchmark
// (scripts/bench-reconcile.sh): a fleet of Cards smartcards with entitlements for
// all, a gateway simulator in a process of its own that starts every card in its
// entitled state and DriftFraction of them drifted, then, in the same run, the
// simulator's query-only rate (every card asked, nothing else) and `provisioner
// reconcile --all` as operators run it, with its wall time, cards per second and
// peak RSS, printed beside the goals of issue 14.
package reconbench
