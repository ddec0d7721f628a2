package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/cmdline"
)

// TestHelp: -h prints the flags and exits 0, as every command of the module does;
// a bad flag exits 2.
func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{arg}, &stdout, &stderr)
		var msg bytes.Buffer
		if code := cmdline.Exit("cas-simulator", err, &msg); code != 0 || msg.Len() != 0 || !strings.Contains(stderr.String(), "Usage of") {
			t.Errorf("%s: exit %d, message %q, stderr:\n%s", arg, code, msg.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-no-such-flag"}, &stdout, &stderr)
	if code := cmdline.Exit("cas-simulator", err, &bytes.Buffer{}); code != 2 {
		t.Errorf("-no-such-flag: exit %d, want 2", code)
	}
}
