// Package liveness tells whether a process recorded in the database (a run's host and
// pid) is known to be gone: on this host only, where its pid can be checked. A run
// recorded RUNNING by a process that is gone (killed, or failed while the database
// was away and could not record its end) is then marked at once by the next run,
// rather than when a lease or housekeeping's age bound runs out.
package liveness
