package cli

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/provisioner/provisioner/metrics"
)

func runVersion(_ context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "version", "version\n\nPrints the module version and the VCS revision it was built from.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("version takes no arguments, got %q", fs.Args())
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(env.Stdout, versionLine(bi))
	return nil
}

// versionLine is "provisioner VERSION (REVISION[, modified] TIME)", from the build
// information the go command records: the module's version ("(devel)" for a build of
// a work tree), and the VCS revision, its time and whether the tree had changes.
// A field that is not known (a test binary, a build with -buildvcs=false) is
// "unknown"; the parentheses are left out when there is no revision at all.
func versionLine(bi *debug.BuildInfo) string {
	version := ""
	if bi != nil {
		version = bi.Main.Version
	}
	if version == "" {
		version = "unknown"
	}
	var rev, at string
	modified := false
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if rev == "" {
		return "provisioner " + version
	}
	parts := []string{rev}
	if modified {
		parts[0] += ", modified"
	}
	if at != "" {
		parts = append(parts, at)
	}
	return fmt.Sprintf("provisioner %s (%s)", version, strings.Join(parts, " "))
}

// buildInfo is the binary's version and VCS revision, for provisioner_build_info.
func buildInfo() metrics.Build {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return metrics.Build{}
	}
	b := metrics.Build{Version: bi.Main.Version}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			b.Revision = s.Value
		}
	}
	return b
}
