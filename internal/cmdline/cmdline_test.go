package cmdline_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"testing"

	"github.com/provisioner/provisioner/internal/cmdline"
)

func TestExit(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Int("n", 0, "")
	cases := []struct {
		name   string
		err    error
		code   int
		stderr string
	}{
		{"ok", nil, 0, ""},
		{"-h", cmdline.Parse(fs, []string{"-h"}), 0, ""},
		{"--help", cmdline.Parse(fs, []string{"--help"}), 0, ""},
		{"bad flag: printed by flag", cmdline.Parse(fs, []string{"-m"}), 2, ""},
		{"usage", cmdline.Usagef("give %s", "-out"), 2, "x: give -out\n"},
		{"wrapped usage", fmt.Errorf("load: %w", cmdline.Usagef("bad")), 2, "x: load: bad\n"},
		{"failure", errors.New("disk full"), 1, "x: disk full\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if code := cmdline.Exit("x", tc.err, &buf); code != tc.code || buf.String() != tc.stderr {
				t.Errorf("Exit(%v) = %d, %q; want %d, %q", tc.err, code, buf.String(), tc.code, tc.stderr)
			}
		})
	}
	if !cmdline.IsUsage(cmdline.Parse(fs, []string{"-n", "x"})) {
		t.Error("a bad flag value is not a usage error")
	}
}
