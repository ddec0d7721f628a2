// Package scheduler is `provisioner scheduler`'s daemon: it runs the jobs of package
// jobs on the cron specs of the configuration, each tick through the run ledger
// (jobs.Ledger), so that with any number of instances on one database each tick runs
// once and a job never overlaps itself.
//
// Cron specs are parsed by robfig/cron/v3 (package config), but the ticks are timed
// here: robfig's runner does not tell a job which scheduled time it fires for, and
// every instance must name a tick alike for the ledger to see that it is the same
// run. Each job has a loop that sleeps until its schedule's next time and starts the
// run for exactly that time, in the background, so that a run still going at the
// next tick has that tick recorded SKIPPED.
//
// At start it marks ABANDONED the runs left RUNNING by instances that died, and logs
// the ticks missed while no instance ran, running the job once for the latest of
// them when the job's catch_up says so. When its context ends (SIGTERM) it starts
// nothing new, gives running jobs the grace period, then cancels their context.
// Reload (SIGHUP) swaps the configuration between ticks.
//
// Metrics: Options.Metrics (an http.Handler) is served at /metrics on
// scheduler.metrics_listen, Options.Observer is told of every recorded run, and
// Options.Gateway of the jobs' gateway batches and results (package metrics is all three).
package scheduler
