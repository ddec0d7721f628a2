package procwatch

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// PeakRSS follows a child's peak resident memory (VmHWM) while it runs.
//
// Not the child's getrusage ru_maxrss (ProcessState.SysUsage): Linux starts a
// process's maxrss at exec from the high-water mark of the memory it replaces, which
// for a child of os/exec (clone with CLONE_VM) is this process's. Once this process
// has held the lib/pq baseline's rows, every child would report at least its size.
// VmHWM belongs to the child's own address space, so it starts from zero at exec. It
// is polled, so growth in the last poll interval before exit is missed; the
// importer's memory peaks in its steady state, not as it exits.
type PeakRSS struct {
	stop chan struct{}
	done chan int64
}

// WatchPeakRSS starts following the child pid, polling every 10 ms.
func WatchPeakRSS(pid int) *PeakRSS {
	w := &PeakRSS{stop: make(chan struct{}), done: make(chan int64, 1)}
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

// Finish returns the peak in bytes (0 if it could not be read).
func (w *PeakRSS) Finish() int64 {
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
