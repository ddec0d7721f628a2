package cli_test

import (
	"regexp"
	"testing"
)

// TestVersion: one line, "provisioner VERSION", then the VCS revision when the build
// recorded one; never the old placeholder "dev".
func TestVersion(t *testing.T) {
	r := runCLI(t, nil, "version")
	if ok, _ := regexp.MatchString(`^provisioner [^ \n]+( \([0-9a-f]+(, modified)?( \S+)?\))?\n$`, r.stdout); r.code != 0 || !ok || r.stdout == "provisioner dev\n" {
		t.Errorf("exit %d, stdout %q", r.code, r.stdout)
	}
	if r := runCLI(t, nil, "version", "x"); r.code != 2 {
		t.Errorf("version x: exit %d, want 2", r.code)
	}
}
