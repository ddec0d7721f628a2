package procwatch

import (
	"syscall"
	"time"
)

// CPUWatch measures, for a benchmark run in this process, the CPU time that PostgreSQL
// spends on behalf of one database while it runs (see Postgres), beside this
// process's own.
type CPUWatch struct {
	pg   *Postgres
	self time.Duration
}

// WatchCPU starts watching the server of backend (a pid from pg_backend_pid(), on
// this machine) for work on database. It polls every 250 ms: the backends of a
// connection pool live through the run, and polling every 20 ms took a tenth of the
// measured process's CPU time.
func WatchCPU(backend int, database string) *CPUWatch {
	return &CPUWatch{pg: watchPostgresEvery(PostmasterOf(backend), database, 250*time.Millisecond), self: SelfCPU()}
}

// Finish stops watching and returns the CPU time this process and PostgreSQL spent
// since WatchCPU; postgres is -1 when /proc could not tell (another machine).
func (w *CPUWatch) Finish() (self, postgres time.Duration) {
	return SelfCPU() - w.self, w.pg.Finish()
}

// SelfCPU is this process's user+system time so far.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
