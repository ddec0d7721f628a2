package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
)

func runRequestsRetry(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "requests retry", "requests retry [filters | --all] [--pin NNNN] (--dry-run | --yes | --expect N)\n\n"+
		"Puts the REJECTED requests that match back to PENDING, under their own numbers.\n"+
		"Without --dry-run, confirm with --yes, or with --expect N: refused unless exactly N match.\n"+
		"A SET_PIN's PIN is erased once it is settled: retry one alone with --number N --pin NNNN.")
	dbf := addDBFlags(fs)
	ff := addFilterFlags(fs, false)
	all := fs.Bool("all", false, "every REJECTED request (when no filter is given)")
	dryRun := fs.Bool("dry-run", false, "list what would be retried, change nothing")
	yes := fs.Bool("yes", false, "retry whatever matches")
	expect := fs.Int("expect", -1, "retry only if exactly this many match (the dry run's count)")
	pin := fs.String("pin", "", "the PIN of the one SET_PIN request retried (its own was erased when it was settled)")
	as := addAsFlag(fs)
	f, err := parseFiltered(env, fs, ff, args)
	if err != nil {
		return err
	}
	expectSet := false
	fs.Visit(func(fl *flag.Flag) { expectSet = expectSet || fl.Name == "expect" })
	switch {
	case f.Empty() && !*all:
		return usagef("give at least one filter, or --all to retry every REJECTED request")
	case !f.Empty() && *all:
		return usagef("--all retries every REJECTED request: give it without filters")
	case expectSet && *expect < 0:
		return usagef("--expect %d: must not be negative", *expect)
	case !*dryRun && !*yes && !expectSet:
		return usagef("retry changes requests: run it with --dry-run first, then confirm with --yes, or with --expect N (the count the dry run gave)")
	case *yes && expectSet:
		return usagef("give --yes or --expect N, not both")
	case *pin != "" && provisioning.PINProblem(*pin) != "":
		return usagef("--pin: %s", provisioning.PINProblem(*pin))
	}
	env, log, db, err := dbf.setUp(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	opts := ops.RetryOptions{DryRun: *dryRun, Expect: -1, Now: env.now(), PIN: *pin,
		Actor: ops.Actor{Operator: *as, Command: commandLine("requests retry", args)}}
	if expectSet {
		opts.Expect = *expect
	}
	cands, err := ops.Retry(ctx, db, f, opts)
	var mismatch *ops.CountMismatchError
	var needPIN *ops.PINNeededError
	switch {
	case errors.As(err, &mismatch):
		writeRetryTable(env.Stdout, cands)
		return err
	case errors.As(err, &needPIN), errors.Is(err, ops.ErrPINUse):
		writeRetryTable(env.Stdout, cands)
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	writeRetryTable(env.Stdout, cands)
	switch {
	case len(cands) == 0:
		fmt.Fprintln(env.Stdout, "no REJECTED request matches: nothing to retry")
	case *dryRun:
		fmt.Fprintf(env.Stdout, "%s would be retried (dry run: nothing changed; confirm with --expect %d)\n", ops.Plural(len(cands), "request", "requests"), len(cands))
	default:
		fmt.Fprintf(env.Stdout, "%s retried: PENDING again\n", ops.Plural(len(cands), "request", "requests"))
		// For the journal: what was retried (the first 50 numbers).
		nums := make([]int64, 0, min(len(cands), 50))
		for _, c := range cands[:cap(nums)] {
			nums = append(nums, c.Number)
		}
		log.WithFields(map[string]any{"retried": len(cands), "numbers": nums}).Info("requests retried")
	}
	return nil
}

func writeRetryTable(w io.Writer, cands []ops.Candidate) {
	if len(cands) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NUMBER\tTYPE\tSMARTCARD\tERROR\tCOMMAND_ID\tWHY")
	for _, c := range cands {
		why := "kept: the gateway may have applied it"
		if c.NewCommandID {
			why = "new: the gateway stores its rejection"
		} else if c.ErrorCode != provisioning.CodeMaxAttempts {
			why = "kept: the gateway holds no answer for it"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", c.Number, c.Type, orDash(esc(smartcardName(c.Request))), esc(c.ErrorCode), c.NextCommandID, why)
	}
	tw.Flush()
}
