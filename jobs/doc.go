// Package jobs holds the provisioner's scheduled jobs and their run ledger.
//
// A job is one function (Job): import (the inbox), process (a processing run) and
// housekeeping. The scheduler, `provisioner run JOB` and system cron all run a job
// the same way: through Ledger.Run, which records the run in job_runs and maps its
// outcome to the ledger's states (and to the commands' exit codes): SUCCEEDED (0),
// REJECTED (3: done, but rows, files or requests were rejected), FAILED (1: an error
// or a panic, with the panic's message and where it happened), INTERRUPTED (cancelled
// at shutdown).
//
// # At most once, never overlapping
//
// A scheduled tick is claimed by inserting (job, tick) into job_runs: the unique
// index job_runs_tick lets the first instance in and turns the others away, so each
// tick runs at most once however many schedulers run. The run then takes the job's
// lock, a row of job_locks with a lease (not a session's advisory lock, which a
// pooler in transaction mode would leave on a connection other clients use): a tick
// that finds the lock taken, because the job's previous run is still going on this
// or another instance, is recorded SKIPPED with that run named. As a live run always
// holds its job's lock while RUNNING, a RUNNING row whose lock is free belongs to an
// instance that died: whoever next holds the lock marks it ABANDONED (a run
// starting, the scheduler at start, housekeeping). A lock is free when its lease has
// run out (6 x Ledger.LockCheck) or at once when its holder was a process of this
// host that is gone. A run renews its lease every Ledger.LockCheck and, should it
// find the lock taken or be unable to renew it for most of the lease, stops and is
// recorded FAILED, before another instance's run can overlap it.
//
// The jobs reuse the commands' code: the importer and the dispatcher, built by
// NewDispatcher and SendImmediately, which `provisioner import` and `provisioner
// process` call too.
package jobs
