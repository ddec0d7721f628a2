package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
)

func runRequestsList(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "requests list", "requests list [filters] [--sort ORDER] [--limit N] [--format table|csv|json]")
	dbf := addDBFlags(fs)
	ff := addFilterFlags(fs, true)
	sort := fs.String("sort", "", "number (oldest first), newest, executed (by settlement time, oldest first; PENDING left out) or executed-newest; "+
		"default: number, executed with --executed-since or --executed-until")
	limit := fs.Int("limit", 100, "at most this many requests, the first in the order of --sort (0: all)")
	format := fs.String("format", "table", "table, csv or json")
	f, err := parseFiltered(env, fs, ff, args)
	if err != nil {
		return err
	}
	if err := f.SetSort(*sort); err != nil {
		return usagef("--sort %s", err)
	}
	if *limit < 0 {
		return usagef("--limit %d: must not be negative", *limit)
	}
	if *format != "table" && *format != "csv" && *format != "json" {
		return usagef("--format %q: expected table, csv or json", *format)
	}
	env, _, db, err := dbf.setUp(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	if *limit > 0 {
		f.Limit = *limit + 1 // one more, to tell the operator that there are more
	}
	rows, err := ops.List(ctx, db, f)
	if err != nil {
		return err
	}
	more := *limit > 0 && len(rows) > *limit
	if more {
		rows = rows[:*limit]
	}
	for i := range rows {
		rows[i] = rows[i].Masked()
	}
	switch *format {
	case "csv":
		err = writeRequestsCSV(env.Stdout, rows)
	case "json":
		err = writeJSON(env.Stdout, requestsJSON(rows))
	default:
		err = writeRequestsTable(env.Stdout, rows)
	}
	if more {
		fmt.Fprintf(env.Stderr, "more than %d requests match: showing the first %d (--limit 0 for all)\n", *limit, *limit)
	}
	if f.BySettlement && f.ExecutedSince.IsZero() && f.ExecutedUntil.IsZero() &&
		(len(f.States) == 0 || slices.Contains(f.States, string(provisioning.Pending))) {
		// The filter alone would have listed them: say where they went.
		fmt.Fprintln(env.Stderr, "by settlement time: PENDING requests, not settled yet, are left out")
	}
	return err
}
