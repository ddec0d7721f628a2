// Package historybench is `make bench`'s measure of cost as history grows (issue
// 16, part 3): the same work beside 0, 1M and 10M settled requests already in the
// table, in one run, so that the figures compare with each other rather than with
// numbers taken on another day.
//
// One database per history size, each a copy of one migrated with a samplegen fleet
// loaded; each then gets its history (fill.go): settled requests spread evenly
// over 90 days, oldest first, in an operator's mix of types, states and sources,
// each with its send's row, written by generate_series in chunks into pages packed
// as later imports would have left them (no room above the fillfactor's reserve for
// an imported request), then vacuumed and analysed as autovacuum would long since
// have done for a history that old. Nothing
// analyses the table after that but what production would: the importer's own
// statistics refresh (store.RefreshRequestStats).
//
// Each round measures, on every database in turn (the order rotated between
// rounds): the importer importing a generated file (in-process, importer.ImportFile),
// one processing run sending it (dispatcher.Run, the defaults of `provisioner
// process`, against the simulator over HTTP), the Web API's creates at a
// concurrency and its shows (api.Server over HTTP), and the operator's reads as the
// commands make them (ops.Snapshot for `status`, ops.List for `requests list`
// with each filter), then, on every database, the housekeeping job as it runs each
// night (its vacuum of the day's dead rows; it deletes nothing there). The table gives medians, the ratio of the largest history's
// figure to the baseline's and the goals: throughputs at least 0.9x, reads under
// 50 ms. Last, on the largest history, the processing run alone and while the
// housekeeping job deletes the oldest part of the history, alternated (goal 0.8x):
// each run beside housekeeping has a part of the deletions of its own, each run
// starts from the table as the nightly housekeeping leaves it, and the two runs of
// a round are compared over the time housekeeping was at work (housekeeping.go).
package historybench
