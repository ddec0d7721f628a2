// Package duration reads the durations people write in the configuration file and
// on the command line: Go's ("90s", "1h30m") and whole days ("30d"), a day being 24
// hours. One function, so that jobs.housekeeping.files_after = "30d" and
// `requests list --created-since 30d` mean the same span. It depends on nothing:
// config (the file) and ops (the operator's filters) both use it, and neither has
// to import the other for it.
package duration
