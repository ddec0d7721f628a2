// Package cmdlinetest holds the test every command of the module shares: -h and
// --help print the usage and exit 0, a flag that does not exist exits 2.
package cmdlinetest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/cmdline"
)

// Run is a command's main without the process: what cmd/*/main.go calls.
type Run func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Help checks that -h and --help print the flags and exit 0, and that an unknown
// flag exits 2, for the command name whose main is run.
func Help(t *testing.T, name string, run Run) {
	t.Helper()
	for _, arg := range []string{"-h", "--help"} {
		var stdout, stderr, msg bytes.Buffer
		err := run(context.Background(), []string{arg}, &stdout, &stderr)
		if code := cmdline.Exit(name, err, &msg); code != 0 || msg.Len() != 0 || !strings.Contains(stderr.String(), "Usage of") {
			t.Errorf("%s %s: exit %d, message %q, stderr:\n%s", name, arg, code, msg.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-no-such-flag"}, &stdout, &stderr)
	if code := cmdline.Exit(name, err, &bytes.Buffer{}); code != 2 {
		t.Errorf("%s -no-such-flag: exit %d, want 2", name, code)
	}
}
