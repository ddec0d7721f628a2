package cli_test

import (
	"strings"
	"testing"
)

// TestHelpExitsZero: -h (and --help, help) after any command or subcommand prints
// its usage and exits 0, touching nothing: no database is set.
func TestHelpExitsZero(t *testing.T) {
	r := runCLI(t, nil, "help")
	if r.code != 0 {
		t.Fatalf("help: exit %d", r.code)
	}
	// The commands, as `provisioner help` lists them.
	var cmds []string
	_, list, _ := strings.Cut(r.stderr, "commands:\n")
	for _, line := range strings.Split(list, "\n") {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		cmds = append(cmds, strings.Fields(line)[0])
	}
	if len(cmds) < 12 {
		t.Fatalf("only %d commands in the usage:\n%s", len(cmds), r.stderr)
	}
	var cases [][]string
	for _, c := range cmds {
		for _, h := range []string{"-h", "--help"} {
			cases = append(cases, []string{c, h})
		}
	}
	for _, sub := range [][]string{{"requests", "list"}, {"requests", "show"}, {"requests", "retry"},
		{"requests", "hold"}, {"requests", "release"}, {"requests", "cancel"}, {"requests", "reschedule"}, {"requests", "priority"},
		{"audit", "list"}, {"tokens", "create"}, {"reference", "load"}, {"config", "check"}, {"run", "process"}} {
		cases = append(cases, append(sub, "-h"))
	}
	cases = append(cases, []string{"requests", "help"}, []string{"config", "help"}, []string{"--help"}, []string{"-h"})
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runCLI(t, nil, args...)
			if r.code != 0 || !strings.Contains(r.stderr, "usage") && !strings.Contains(r.stderr, "Usage") && args[0] != "version" {
				t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
		})
	}
}
