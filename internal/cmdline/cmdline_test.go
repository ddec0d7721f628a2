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

// TestParseInterleaved: flags are read wherever they stand among the positional
// arguments (issue 16, item 7: `import FILE --rejects DIR` took --rejects for a file).
func TestParseInterleaved(t *testing.T) {
	cases := []struct {
		args    []string
		rejects string
		dry     bool
		pos     []string
	}{
		{[]string{"a.csv", "--rejects", "out"}, "out", false, []string{"a.csv"}},
		{[]string{"--rejects", "out", "a.csv"}, "out", false, []string{"a.csv"}},
		{[]string{"a.csv", "--dry-run", "b.csv", "-rejects=out", "c.csv"}, "out", true, []string{"a.csv", "b.csv", "c.csv"}},
		{[]string{"a.csv", "--", "--rejects", "b"}, "", false, []string{"a.csv", "--rejects", "b"}},
		{[]string{"--rejects", "--", "a.csv", "--dry-run"}, "--", true, []string{"a.csv"}},
		{[]string{"-", "--dry-run"}, "", true, []string{"-"}},
		{nil, "", false, nil},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.args), func(t *testing.T) {
			fs := flag.NewFlagSet("import", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			rejects := fs.String("rejects", "", "")
			dry := fs.Bool("dry-run", false, "")
			if err := cmdline.Parse(fs, tc.args); err != nil {
				t.Fatal(err)
			}
			if *rejects != tc.rejects || *dry != tc.dry || fmt.Sprint(fs.Args()) != fmt.Sprint(tc.pos) {
				t.Errorf("rejects %q, dry-run %v, args %q; want %q, %v, %q", *rejects, *dry, fs.Args(), tc.rejects, tc.dry, tc.pos)
			}
		})
	}
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := cmdline.Parse(fs, []string{"a.csv", "--nope"}); !cmdline.IsUsage(err) {
		t.Errorf("an unknown flag after a file: %v, want a usage error", err)
	}
}

// TestParseNoArgs: flags only; an argument anywhere is a usage error.
func TestParseNoArgs(t *testing.T) {
	for _, c := range []struct {
		args  []string
		usage bool
	}{
		{[]string{"-n", "3"}, false},
		{nil, false},
		{[]string{"extra"}, true},
		{[]string{"-n", "3", "extra"}, true},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Int("n", 0, "")
		err := cmdline.ParseNoArgs(fs, c.args)
		if cmdline.IsUsage(err) != c.usage || (!c.usage && err != nil) {
			t.Errorf("%q: %v, want usage error %v", c.args, err, c.usage)
		}
	}
}
