package cli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provisioner/provisioner/ops"
)

const auditUsage = `audit list [--operator NAME] [--action ACTION] [--since TIME] [--limit N] [--json]

The audit trail, newest first: every lever pulled (retry, hold, release, cancel,
reschedule, priority, pause, resume, tokens create, tokens revoke, reference load),
by whom, when, the command and its filters, how many requests it changed and their
numbers (the first 10,000). The trail is append-only: nothing deletes it.`

func runAudit(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "audit list", auditUsage)
	if len(args) > 0 && isHelp(args[0]) {
		fs.Usage()
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "list" {
		return usagef("usage: provisioner %s", auditUsage)
	}
	dbf := addDBFlags(fs)
	operator := fs.String("operator", "", "entries of this operator")
	action := fs.String("action", "", "entries of this action: "+strings.Join(ops.Actions, ", "))
	since := fs.String("since", "", "entries at or after this time (RFC 3339, a date, or an age: 90m, 36h, 7d)")
	limit := fs.Int("limit", 100, "the most entries, newest first")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("audit list takes no arguments, got %q", fs.Args())
	}
	f := ops.AuditFilter{Operator: strings.TrimSpace(*operator), Action: strings.ToLower(strings.TrimSpace(*action)), Limit: *limit}
	if f.Action != "" && !slices.Contains(ops.Actions, f.Action) {
		return usagef("--action %q: give one of %s", *action, strings.Join(ops.Actions, ", "))
	}
	if *limit <= 0 {
		return usagef("--limit %d: must be positive", *limit)
	}
	if *since != "" {
		t, err := ops.ParseTime(*since, env.now())
		if err != nil {
			return usagef("--since %v", err)
		}
		f.Since = t
	}
	env, _, db, err := dbf.setUp(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	entries, err := ops.ListAudit(ctx, db, f)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.Stdout, entries)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tOPERATOR\tACTION\tTOUCHED\tNUMBERS\tCOMMAND")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", e.At.Format(time.RFC3339), e.Operator, e.Action, e.Touched, numberList(e.Numbers, e.Touched), e.Command)
	}
	return tw.Flush()
}

// numberList shows the first numbers of an entry, and how many more.
func numberList(nums []int64, touched int) string {
	if touched == 0 {
		return "-"
	}
	const show = 5
	parts := make([]string, 0, show)
	for _, n := range nums[:min(len(nums), show)] {
		parts = append(parts, fmt.Sprint(n))
	}
	s := strings.Join(parts, ",")
	if touched > len(parts) {
		s += fmt.Sprintf(" (+%d)", touched-len(parts))
	}
	return s
}
