package benchrun

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// measurement is one timed run.
type measurement struct {
	wall      time.Duration
	clientCPU time.Duration // user+system of the client (child process, or this one)
	pgCPU     time.Duration // user+system of the bench database's PostgreSQL processes; -1 unknown
	maxRSS    int64         // bytes; the child's peak resident set (VmHWM), 0 when not a child
	rows      int
}

func (m measurement) rate() float64 { return float64(m.rows) / m.wall.Seconds() }

// child is the outcome of a child process.
type child struct {
	measurement
	stdout, stderr string
}

// runChild runs name with args and extra environment, timing it. The error carries
// the tail of its stderr.
func runChild(ctx context.Context, env []string, name string, args ...string) (child, error) {
	var c child
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	err := cmd.Start()
	if err == nil {
		peak := watchPeakRSS(cmd.Process.Pid)
		err = cmd.Wait()
		c.wall = time.Since(started)
		c.maxRSS = peak.finish()
	}
	c.stdout, c.stderr = stdout.String(), stderr.String()
	if ps := cmd.ProcessState; ps != nil {
		c.clientCPU = ps.UserTime() + ps.SystemTime()
	}
	if err != nil {
		return c, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(c.stderr+c.stdout, 2000))
	}
	return c, nil
}

// peakWatch follows a child's peak resident memory (VmHWM) while it runs.
//
// Not the child's getrusage ru_maxrss (ProcessState.SysUsage): Linux starts a
// process's maxrss at exec from the high-water mark of the memory it replaces, which
// for a child of os/exec (clone with CLONE_VM) is this process's. Once this process
// has held the lib/pq baseline's rows, every child would report at least its size.
// VmHWM belongs to the child's own address space, so it starts from zero at exec. It
// is polled, so growth in the last poll interval before exit is missed; the
// importer's memory peaks in its steady state, not as it exits.
type peakWatch struct {
	stop chan struct{}
	done chan int64
}

func watchPeakRSS(pid int) *peakWatch {
	w := &peakWatch{stop: make(chan struct{}), done: make(chan int64, 1)}
	self, _ := os.Readlink("/proc/self/exe")
	go func() {
		var peak int64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			// Until the child has exec'd, it shares this process's memory: skip it.
			if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe != self {
				peak = max(peak, vmHWM(pid))
			}
			select {
			case <-w.stop:
				w.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// finish returns the peak in bytes (0 if it could not be read).
func (w *peakWatch) finish() int64 {
	close(w.stop)
	return <-w.done
}

// vmHWM reads the peak resident set of pid, in bytes; 0 when it cannot (an exited
// process has none).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// selfCPU is this process's user+system time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTick is USER_HZ, the unit of the times in /proc/PID/stat: 100 on every Linux
// this runs on (the kernel's ABI fixes it; HZ itself may differ).
const clockTick = 10 * time.Millisecond

// pgWatch measures the CPU time that PostgreSQL spends on behalf of one database
// while a measurement runs. The server is shared (other sessions run tests on it), so
// it counts only the backends whose process title names the database, the parallel
// workers of those backends, and the background processes that write WAL and dirty
// pages for everyone (walwriter, checkpointer, background writer). Backends and
// parallel workers come and go within a measurement (a parallel worker lives for one
// query), so /proc is polled and each process's last reading kept: what a process
// spends in its last poll interval is missed, which makes the figure a little low.
type pgWatch struct {
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

// watchPostgres starts watching; postmaster is the server's pid. It returns nil when
// /proc cannot tell (not Linux, or another machine): figures are then reported unknown.
func watchPostgres(postmaster int, database string) *pgWatch {
	return watchPostgresEvery(postmaster, database, 20*time.Millisecond)
}

// watchPostgresEvery polls every interval: less often where the server processes
// of interest live long, to take less of the CPU being measured.
func watchPostgresEvery(postmaster int, database string, interval time.Duration) *pgWatch {
	if postmaster <= 0 {
		return nil
	}
	w := &pgWatch{postmaster: postmaster, database: database, stop: make(chan struct{}),
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

// finish stops watching and returns the CPU time spent since the start, or -1.
func (w *pgWatch) finish() time.Duration {
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
func (w *pgWatch) poll(first map[int]time.Duration) bool {
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

func (w *pgWatch) record(pid int, cpu time.Duration, first map[int]time.Duration) {
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
func (w *pgWatch) classify(pid int) class {
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
func (w *pgWatch) workerOf(pid int) bool {
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

// postmasterOf returns the parent of a backend: the server's postmaster.
func postmasterOf(backend int) int {
	ppid, _, ok := procStat(backend)
	if !ok {
		return 0
	}
	return ppid
}
