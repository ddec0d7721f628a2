// Package benchrun is `make bench` for the importer: it measures the importer as
// operators run it against a raw COPY of the very same rows, in one run, on one
// machine, so that the figures can be compared with each other rather than with
// numbers taken on another day under another load.
//
// One run generates an instruction file and its reference data (package samplegen),
// creates a database of its own, migrates it and loads the reference data with the
// real binary, then alternates, for a few rounds:
//
//   - importer: `provisioner import FILE` in a child process; wall time, the child's
//     CPU time and peak resident memory, and the CPU time of the PostgreSQL processes
//     working for the bench database meanwhile. No CAS gateway is configured for it,
//     so the file's process_immediately requests stay PENDING: sending them is not
//     importing;
//   - raw COPY (psql): the rows the importer wrote, exported once with COPY TO before
//     the table is emptied, loaded back with `psql \copy ... FROM`: the same columns
//     and values into the same table with the same indexes, with no client-side
//     work worth the name. This is the floor the importer is compared with;
//   - raw COPY (lib/pq): the same rows, already in memory as the importer's copy stage
//     holds them, sent with lib/pq's CopyIn one Exec per row as the importer does. The
//     gap between it and psql is the cost of the driver's per-row path alone.
//
// The tables are truncated and a CHECKPOINT taken before every measurement, so that
// each starts from the same empty table and none pays for an earlier one's dirty
// pages. Medians over the rounds are reported beside the goals. The CPU and memory
// figures are read from /proc by package internal/procwatch.
package benchrun
