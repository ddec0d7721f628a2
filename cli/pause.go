package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
)

var pauseUsage = `pause JOB|queue [--reason TEXT] [--as NAME]

Pauses a job (` + strings.Join(jobs.Names(), ", ") + `) or the queue, on every host, stored in
the database. A paused job's ticks are recorded SKIPPED with the reason (the
scheduler's and ` + "`provisioner run JOB`" + `'s alike), from its next tick. A paused queue
lets running processing runs send and write back the batches they hold, and claim
nothing new (every claim tests it); ` + "`process`" + ` then claims nothing. ` + "`resume`" + `
ends it. Recorded in the audit trail under --as NAME (default: the login name).`

const resumeUsage = `resume JOB|queue [--as NAME]

Ends the pause of a job or of the queue (see pause). Recorded in the audit trail.`

// pauseTarget checks a pause's target: a job's name or the queue.
func pauseTarget(cmd string, args []string) (string, error) {
	targets := append(jobs.Names(), provisioning.PauseQueue)
	if len(args) != 1 {
		return "", usagef("%s takes one of %s, got %q", cmd, strings.Join(targets, ", "), args)
	}
	t := strings.ToLower(args[0])
	if !slices.Contains(targets, t) {
		return "", usagef("%s %q: give one of %s", cmd, args[0], strings.Join(targets, ", "))
	}
	return t, nil
}

func runPause(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "pause", pauseUsage)
	dbf := addDBFlags(fs)
	as := addAsFlag(fs)
	reason := fs.String("reason", "", "why: shown by status, the metrics and the ledger's SKIPPED ticks")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	pos := fs.Args()
	target, err := pauseTarget("pause", pos)
	if err != nil {
		return err
	}
	env, _, db, err := dbf.setUp(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	a := ops.Actor{Operator: *as, Command: commandLine("pause", args)}
	already, err := ops.SetPause(ctx, db, target, strings.TrimSpace(*reason), a, env.now())
	if err != nil {
		return err
	}
	p, err := ops.PauseOf(ctx, db, target)
	if err != nil {
		return err
	}
	if already {
		fmt.Fprintf(env.Stdout, "%s was paused already; now %s\n", target, p.Why())
		return nil
	}
	fmt.Fprintf(env.Stdout, "%s %s\n", target, p.Why())
	return nil
}

func runResume(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "resume", resumeUsage)
	dbf := addDBFlags(fs)
	as := addAsFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	pos := fs.Args()
	target, err := pauseTarget("resume", pos)
	if err != nil {
		return err
	}
	env, _, db, err := dbf.setUp(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := ops.Resume(ctx, db, target, ops.Actor{Operator: *as, Command: commandLine("resume", args)}, env.now())
	if err != nil {
		return err
	}
	if p == nil {
		fmt.Fprintf(env.Stdout, "%s is not paused: nothing to resume\n", target)
		return nil
	}
	fmt.Fprintf(env.Stdout, "%s resumed (it was %s)\n", target, p.Why())
	return nil
}
