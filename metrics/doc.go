// Package metrics is the provisioner's Prometheus metrics, served by Handler on a
// registry of its own (not the global one, so tests and embedders get only these):
//
//   - read from the database at each scrape (one query, with a timeout): the
//     requests by life cycle state and priority, the age of the oldest due
//     PENDING request, and whether that query worked (provisioner_queue_up: a
//     failed query gives 0 there, not a failed scrape);
//   - fed by the scheduler (JobFinished): job runs and their durations by outcome;
//   - fed by processing runs (as their dispatcher.Observer): gateway batches and
//     their latency by HTTP status and outcome, and the written-back results by
//     state and error code.
//
// Serve serves them at /metrics on a listener the caller opened. It uses the
// official client library, github.com/prometheus/client_golang.
package metrics
