package benchrun

import (
	"time"
)

// CPUWatch measures, for another package's benchmark, the CPU time that PostgreSQL
// spends on behalf of one database while it runs (see pgWatch), beside this
// process's own.
type CPUWatch struct {
	pg   *pgWatch
	self time.Duration
}

// WatchCPU starts watching the server of backend (a pid from pg_backend_pid(), on
// this machine) for work on database. It polls every 250 ms: the backends of a
// connection pool live through the run, and polling every 20 ms took a tenth of the
// measured process's CPU time.
func WatchCPU(backend int, database string) *CPUWatch {
	return &CPUWatch{pg: watchPostgresEvery(postmasterOf(backend), database, 250*time.Millisecond), self: selfCPU()}
}

// Finish stops watching and returns the CPU time this process and PostgreSQL spent
// since WatchCPU; postgres is -1 when /proc could not tell (another machine).
func (w *CPUWatch) Finish() (self, postgres time.Duration) {
	return selfCPU() - w.self, w.pg.finish()
}
