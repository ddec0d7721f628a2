package cli

import (
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// TestWatchdogInterval: half of $WATCHDOG_USEC, for this process only
// (sd_watchdog_enabled(3)); none when unset, meant for another pid, or not a number.
func TestWatchdogInterval(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	me := strconv.Itoa(os.Getpid())
	cases := []struct {
		usec, pid string
		want      time.Duration
	}{
		{"", "", 0},
		{"30000000", "", 15 * time.Second},
		{"30000000", me, 15 * time.Second},
		{"30000000", "1", 0},
		{"soon", "", 0},
		{"-5", "", 0},
	}
	for _, c := range cases {
		env := map[string]string{"WATCHDOG_USEC": c.usec, "WATCHDOG_PID": c.pid}
		if got := watchdogInterval(func(k string) string { return env[k] }, log); got != c.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, want %v", c.usec, c.pid, got, c.want)
		}
	}
}
