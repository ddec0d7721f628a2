package liveness

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Host is this machine's name as runs record it (os.Hostname).
func Host() string {
	h, _ := os.Hostname()
	return h
}

// Dead reports whether the process pid of host is known to be gone: host is this
// host and no process has that pid. A process on another host, or one whose pid is
// alive (perhaps reused), is not known dead.
func Dead(host string, pid int) bool {
	if host == "" || host != Host() || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return false
	}
	err := syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}

// DeadInstance is Dead for an instance named "host:pid" (jobs.DefaultInstance).
func DeadInstance(instance string) bool {
	i := strings.LastIndexByte(instance, ':')
	if i < 0 {
		return false
	}
	pid, err := strconv.Atoi(instance[i+1:])
	return err == nil && Dead(instance[:i], pid)
}
