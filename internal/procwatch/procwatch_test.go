package procwatch

import (
	"os"
	"testing"
)

func TestProcStatOfSelf(t *testing.T) {
	ppid, _, ok := procStat(os.Getpid())
	if !ok {
		t.Skip("no /proc")
	}
	if ppid != os.Getppid() {
		t.Errorf("parent %d, want %d", ppid, os.Getppid())
	}
	if vmHWM(os.Getpid()) <= 0 {
		t.Error("no VmHWM for this process")
	}
}
