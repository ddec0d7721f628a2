package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/jobs"
)

// TestCrontabExample: every line of crontab.example is a valid 5-field spec running
// a job that exists, and every job has a line: commented out (#-) for a job that is
// off by default (reconcile).
func TestCrontabExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "crontab.example"))
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^(\S+\s+\S+\s+\S+\s+\S+\s+\S+)\s+.*\bprovisioner run (\S+)`)
	seen := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimPrefix(l, "#-")
		if l == "" || strings.HasPrefix(l, "#") || strings.Contains(strings.SplitN(l, " ", 2)[0], "=") {
			continue
		}
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("not a provisioner run line: %q", l)
			continue
		}
		if _, err := config.ParseSchedule(m[1], time.UTC); err != nil {
			t.Errorf("%q: %v", m[1], err)
		}
		if _, ok := jobs.All[m[2]]; !ok {
			t.Errorf("no job %q", m[2])
		}
		seen[m[2]] = true
	}
	for _, name := range jobs.Names() {
		if !seen[name] {
			t.Errorf("crontab.example does not run %s", name)
		}
	}
}

// TestServiceUnit: systemd waits longer than the sample's grace period and one batch
// before it kills the scheduler, and sends SIGTERM.
func TestServiceUnit(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "samples", "provisioner-scheduler.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	c, err := config.Load(filepath.Join("..", "samples", "provisioner.toml"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)$`).FindStringSubmatch(unit)
	if m == nil {
		t.Fatal("no TimeoutStopSec")
	}
	stop, _ := strconv.Atoi(m[1])
	if time.Duration(stop)*time.Second <= c.Scheduler.GracePeriod+c.Gateway.BatchTimeout {
		t.Errorf("TimeoutStopSec=%d: not more than the grace period %v and a batch timeout %v", stop, c.Scheduler.GracePeriod, c.Gateway.BatchTimeout)
	}
	for _, want := range []string{"\nKillSignal=SIGTERM\n", "\nRestart=on-failure\n", "\nEnvironmentFile=", "\nUser=provisioner\n", "\nExecStart=/usr/local/bin/provisioner scheduler\n", "\nExecReload=/bin/kill -HUP $MAINPID\n", "\nType=notify\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
}
