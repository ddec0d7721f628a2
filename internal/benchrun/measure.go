package benchrun

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/provisioner/provisioner/internal/procwatch"
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
		peak := procwatch.WatchPeakRSS(cmd.Process.Pid)
		err = cmd.Wait()
		c.wall = time.Since(started)
		c.maxRSS = peak.Finish()
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

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
