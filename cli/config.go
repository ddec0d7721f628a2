package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/internal/escape"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/scheduler"
)

const configUsage = `config check [FILE]

Checks a configuration file (FILE, --config, else $PROVISIONER_CONFIG) and names every
bad key, value or cron spec with its line, and whatever else would make the scheduler
refuse to start in this environment: a scheduled import's inbox missing, the gateway
settings of a scheduled process job missing ($CAS_GATEWAY_TOKEN...), a
metrics_listen address that cannot be listened on; exit 2 if there is any. A file that
schedules nothing is fine for provisioner run (cron), and only noted.`

func runConfig(_ context.Context, env Env, args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintf(env.Stderr, "usage: provisioner %s\n", configUsage)
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "check" {
		return usagef("usage: provisioner %s", configUsage)
	}
	fs := newFlagSet(env, "config check", configUsage)
	path := configFlag(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 1:
		return usagef("config check takes one file, got %q", fs.Args())
	case fs.NArg() == 1 && *path != "":
		return usagef("give the file as an argument or with --config, not both")
	case fs.NArg() == 1:
		*path = fs.Arg(0)
	}
	c, err := config.Load(*path, env.Getenv)
	var ps *config.Problems
	if errors.As(err, &ps) {
		fmt.Fprintln(env.Stdout, escape.Lines(err.Error()))
		return usagef("%s in %s", ops.Plural(len(ps.List), "mistake", "mistakes"), ps.File)
	}
	if err != nil {
		return usagef("%v", err)
	}
	mistakes, warnings := startChecks(c, true)
	for _, m := range mistakes {
		fmt.Fprintf(env.Stdout, "%s: %s\n", c.Path, esc(m))
	}
	if len(mistakes) > 0 {
		what := fmt.Sprintf("%d mistakes", len(mistakes))
		if len(mistakes) == 1 {
			what = "1 mistake"
		}
		return usagef("%s in %s: the scheduler would refuse to start", what, c.Path)
	}
	for _, w := range append(c.Warnings, warnings...) {
		fmt.Fprintln(env.Stdout, "warning: "+esc(w))
	}
	if err := scheduler.Scheduled(c); err != nil {
		fmt.Fprintf(env.Stdout, "note: %v: provisioner scheduler refuses it\n", err)
	}
	fmt.Fprintf(env.Stdout, "%s: ok\n", c.Path)
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSCHEDULE\tCATCH UP\tNEXT")
	now := time.Now()
	for _, name := range jobs.Names() {
		j := c.Jobs()[name]
		if j.Cron == nil {
			fmt.Fprintf(tw, "%s\t(not scheduled)\t\t\n", name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", name, j.Schedule, j.CatchUp, j.Cron.Next(now).Format(time.RFC3339))
	}
	return tw.Flush()
}
