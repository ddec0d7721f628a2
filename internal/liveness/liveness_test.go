package liveness_test

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/provisioner/provisioner/internal/liveness"
)

func TestDead(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	gone := cmd.Process.Pid // reaped: no process has it (until the pid is reused)
	host := liveness.Host()
	cases := []struct {
		instance string
		dead     bool
	}{
		{fmt.Sprintf("%s:%d", host, gone), true},
		{fmt.Sprintf("%s:%d", host, os.Getpid()), false},
		{fmt.Sprintf("%s:%d", host, os.Getppid()), false},
		{fmt.Sprintf("elsewhere-%s:%d", host, gone), false},
		{"no-pid", false},
		{host + ":x", false},
	}
	for _, tc := range cases {
		if got := liveness.DeadInstance(tc.instance); got != tc.dead {
			t.Errorf("DeadInstance(%q) = %v, want %v", tc.instance, got, tc.dead)
		}
	}
}
