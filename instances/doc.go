// Package instances keeps the heartbeat rows of the live instances (issue 12, part
// 5): every scheduler, `provisioner run JOB` and `provisioner process` records its
// host, pid, version, start and what it is doing in the instances table, and raises
// its last_seen_at on a timer (Interval), one UPDATE by primary key. An instance
// whose row has not been seen within a dead-after time (DefaultDeadAfter, several
// intervals) is dead: `provisioner status` lists the instances, live or dead, and
// says so of the job runs a dead instance left RUNNING, instead of letting them
// look alive until the next tick. A clean end deletes the row; housekeeping
// deletes the rows of instances dead for long.
package instances
