package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/reference"
)

func runReference(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "reference load", "reference load [--database-url URL] [--as NAME] DIR\n\nRecorded in the audit trail under --as NAME (default: the login name).")
	if len(args) > 0 && isHelp(args[0]) {
		fs.Usage()
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "load" {
		return usagef("usage: provisioner reference load [--database-url URL] DIR")
	}
	dbf := addDBFlags(fs)
	as := addAsFlag(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("reference load takes one directory, got %d arguments", fs.NArg())
	}
	env, log, db, err := dbf.setUp(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()

	results, err := reference.Load(ctx, db, fs.Arg(0))
	if err != nil {
		return err
	}
	bad := 0
	files := map[string]any{}
	for _, r := range results {
		files[r.File] = map[string]any{"rows": r.Rows, "loaded": r.Loaded, "bad_rows": len(r.Bad)}
	}
	if err := ops.Audit(ctx, db, ops.Actor{Operator: *as, Command: commandLine("reference", args)}, ops.ActionReferenceLoad,
		map[string]any{"dir": fs.Arg(0), "files": files}, nil, env.now()); err != nil {
		return fmt.Errorf("reference data loaded, but: %w", err)
	}
	for _, r := range results {
		entry := log.WithFields(map[string]any{"file": r.File, "rows": r.Rows, "bad_rows": len(r.Bad)})
		if r.Loaded {
			entry.Info("reference file loaded")
			continue
		}
		entry.Warn("reference file not loaded: it has bad rows")
		for _, b := range r.Bad {
			fmt.Fprintln(env.Stdout, esc(b.Error()))
		}
		bad += len(r.Bad)
	}
	if bad > 0 {
		return &rejectedError{fmt.Sprintf("%d bad reference rows: their files were not loaded (fix them and load again)", bad)}
	}
	return nil
}
