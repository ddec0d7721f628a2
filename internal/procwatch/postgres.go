package procwatch

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTick is USER_HZ, the unit of the times in /proc/PID/stat: 100 on every Linux
// this runs on (the kernel's ABI fixes it; HZ itself may differ).
const clockTick = 10 * time.Millisecond

// Postgres measures the CPU time that PostgreSQL spends on behalf of one database
// while a measurement runs. The server is shared (other sessions run tests on it), so
// it counts only the backends whose process title names the database, the parallel
// workers of those backends, and the background processes that write WAL and dirty
// pages for everyone (walwriter, checkpointer, background writer). Backends and
// parallel workers come and go within a measurement (a parallel worker lives for one
// query), so /proc is polled and each process's last reading kept: what a process
// spends in its last poll interval is missed, which makes the figure a little low.
type Postgres struct {
	postmaster int
	database   string
	stop       chan struct{}
	done       sync.WaitGroup

	mu     sync.Mutex
	ours   map[int]bool          // server processes classified: working for the database or not
	start  map[int]time.Duration // readings at the start (processes already running)
	last   map[int]time.Duration // latest reading of every process of ours seen
	leader *regexp.Regexp
}

// WatchPostgres starts watching, polling every 20 ms; postmaster is the server's pid. It returns nil when
// /proc cannot tell (not Linux, or another machine): figures are then reported unknown.
func WatchPostgres(postmaster int, database string) *Postgres {
	return watchPostgresEvery(postmaster, database, 20*time.Millisecond)
}

// WatchPostgresEvery is WatchPostgres polling every interval: for a measurement
// whose server processes live through it (a pool's, pgbench's), where polling every
// 20 ms would take a share of the CPU being measured.
func WatchPostgresEvery(postmaster int, database string, interval time.Duration) *Postgres {
	return watchPostgresEvery(postmaster, database, interval)
}

// watchPostgresEvery polls every interval: less often where the server processes
// of interest live long, to take less of the CPU being measured.
func watchPostgresEvery(postmaster int, database string, interval time.Duration) *Postgres {
	if postmaster <= 0 {
		return nil
	}
	w := &Postgres{postmaster: postmaster, database: database, stop: make(chan struct{}),
		ours: map[int]bool{}, start: map[int]time.Duration{}, last: map[int]time.Duration{},
		leader: regexp.MustCompile(`: parallel worker for PID (\d+) `)}
	if !w.poll(w.start) {
		return nil
	}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.poll(nil)
			}
		}
	}()
	return w
}

// Finish stops watching and returns the CPU time spent since the start, or -1.
func (w *Postgres) Finish() time.Duration {
	if w == nil {
		return -1
	}
	w.poll(nil) // the latest reading of the processes still there
	close(w.stop)
	w.done.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	var total time.Duration
	for pid, t := range w.last {
		total += t - w.start[pid]
	}
	return total
}

// poll reads the processes of interest; when first is set, it records there too.
func (w *Postgres) poll(first map[int]time.Duration) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var workers []int // classified after the backends: their leader must be known
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ours, known := w.ours[pid]
		if known && !ours {
			continue
		}
		ppid, cpu, ok := procStat(pid)
		if !ok {
			continue
		}
		if ppid != w.postmaster {
			w.ours[pid] = false // not a server process: not read again
			continue
		}
		if !known {
			switch w.classify(pid) {
			case classUnknown:
				continue // not titled yet: its CPU time is counted once it is
			case classOurs:
				w.ours[pid] = true
			case classWorker:
				workers = append(workers, pid)
				continue
			default:
				w.ours[pid] = false
				continue
			}
		}
		w.record(pid, cpu, first)
	}
	for _, pid := range workers {
		if w.workerOf(pid) {
			if _, cpu, ok := procStat(pid); ok {
				w.record(pid, cpu, first)
			}
		}
	}
	return true
}

func (w *Postgres) record(pid int, cpu time.Duration, first map[int]time.Duration) {
	w.last[pid] = cpu
	if first != nil {
		first[pid] = cpu
	}
}

type class int

const (
	classUnknown class = iota // just forked: it still has the postmaster's command line
	classOther
	classOurs
	classWorker // a parallel worker: ours if its leader is
)

// classify tells from a server process's title whether it works for the watched
// database.
func (w *Postgres) classify(pid int) class {
	title := processTitle(pid)
	switch {
	case !strings.HasPrefix(title, " postgres: "):
		return classUnknown
	case strings.Contains(title, ": parallel worker for PID "):
		return classWorker
	case strings.Contains(title, " "+w.database+" "):
		// A backend: "postgres: CLUSTER: USER DATABASE HOST(PORT) ACTIVITY".
		return classOurs
	}
	for _, bg := range []string{"walwriter", "checkpointer", "background writer"} {
		if strings.Contains(title, ": "+bg+" ") {
			return classOurs
		}
	}
	return classOther
}

// workerOf classifies a parallel worker by its leader, remembering the answer.
func (w *Postgres) workerOf(pid int) bool {
	ours := false // a worker is titled before it runs: a missing title means it is gone
	if m := w.leader.FindStringSubmatch(processTitle(pid)); m != nil {
		leader, _ := strconv.Atoi(m[1])
		ours = w.ours[leader]
	}
	w.ours[pid] = ours
	return ours
}

// processTitle is a process's command line as ps shows it, padded with a space at
// each end; "" if it is gone.
func processTitle(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return ""
	}
	return " " + strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ") + " "
}

// procStat reads a process's parent and its user+system CPU time.
func procStat(pid int) (ppid int, cpu time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name is in parentheses and may hold spaces: fields count from the
	// last ')'. After it: state ppid ... utime stime are fields 14 and 15 of the line.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return ppid, time.Duration(utime+stime) * clockTick, true
}

// PostmasterOf returns the parent of a backend: the server's postmaster.
func PostmasterOf(backend int) int {
	ppid, _, ok := procStat(backend)
	if !ok {
		return 0
	}
	return ppid
}

// ProcessCPU is the user+system CPU time so far of a running process of this machine
// (a child that is still running, whose rusage Wait cannot give yet).
func ProcessCPU(pid int) (time.Duration, bool) {
	_, cpu, ok := procStat(pid)
	return cpu, ok
}
