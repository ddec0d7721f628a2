package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/internal/cmdline"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/ops"
)

const importUsage = `import [flags] --inbox DIR
       provisioner import [flags] FILE...

Imports instruction files: with --inbox, what is waiting in the inbox, once (files
are claimed into DIR/processing, then moved to DIR/archive or DIR/failed, and rejected
rows are written to DIR/rejects); otherwise the named files, where they are.`

func runImport(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "import", importUsage)
	dbf := addDBFlags(fs)
	inbox := fs.String("inbox", "", "import what is waiting in this inbox directory")
	dryRun := fs.Bool("dry-run", false, "check every row and report; write nothing (rejected rows are printed as CSV)")
	settle := fs.Duration("settle", importer.DefaultSettle, "leave inbox files changed more recently than this alone (still being written)")
	rejectsDir := fs.String("rejects", "", "where named files' rejects files go (default: beside each file)")
	chunk := fs.Int("chunk", 2000, "rows checked against the reference data together")
	fileTimeout := fs.Duration("file-timeout", importer.DefaultFileTimeout, "the longest one file's import may take in the database (its COPY)")
	g := addGatewayFlags(fs) // for the process_immediately rows
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *inbox == "" && fs.NArg() == 0:
		return usagef("give --inbox DIR or at least one FILE")
	case *inbox != "" && fs.NArg() > 0:
		return usagef("give --inbox DIR or FILEs, not both")
	case *settle < 0:
		return usagef("--settle %v: must not be negative", *settle)
	case *chunk < 1 || *chunk > 100000:
		return usagef("--chunk %d: must be between 1 and 100000", *chunk)
	case *fileTimeout < time.Second || *fileTimeout > importer.MaxFileTimeout:
		return usagef("--file-timeout %v: must be between 1s and %v (a longer import could be left out of created-date filters)", *fileTimeout, importer.MaxFileTimeout)
	}
	dbf.conns = g.opts.Conns() // for the process_immediately runs
	env, log, db, err := dbf.setUp(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()

	// The import allocates fast and keeps little: collecting garbage at 4x the live
	// heap instead of 2x saved a fifth of the client's CPU in the benchmark, and the
	// soft limit keeps the peak well under the 150 MB the importer is held to.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(120 << 20))
	opts := importer.Options{ChunkSize: *chunk, DryRun: *dryRun, RejectsOut: env.Stdout, FileTimeout: *fileTimeout}
	if env.StderrIsTerminal && env.Getenv("LOG_FORMAT") != "json" {
		opts.Progress = progressBar(env.Stderr)
	}
	im := importer.New(db, log, opts)

	var results []importer.Result
	if *inbox != "" {
		results, err = im.ImportInbox(ctx, *inbox, *settle)
		if errors.Is(err, importer.ErrInbox) {
			err = &cmdline.UsageError{Msg: err.Error()}
		}
	} else {
		for _, path := range fs.Args() {
			var res importer.Result
			res, err = im.ImportFile(ctx, path, *rejectsDir)
			if err != nil {
				break
			}
			results = append(results, res)
		}
	}
	printResults(env.Stdout, results, *dryRun)
	if err != nil {
		return err
	}
	jobs.SendImmediately(ctx, db, log, g.config(env), g.opts, results)
	if r := jobs.ImportResult(results); r.Rejected > 0 {
		return &rejectedError{fmt.Sprintf("%s and %s rejected", ops.Plural(r.Counts["rejected_rows"], "row", "rows"), ops.Plural(r.Counts["refused_files"], "file", "files"))}
	}
	return nil
}

// printResults prints a summary table, one line per file, for the operator.
func printResults(w io.Writer, results []importer.Result, dryRun bool) {
	if len(results) == 0 {
		if !dryRun {
			fmt.Fprintln(w, "nothing to import")
		}
		return
	}
	if dryRun {
		fmt.Fprintln(w) // after the rejects printed as CSV
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tSTATE\tROWS\tCREATED\tREJECTED\tNOTE")
	for _, r := range results {
		note := r.Reason
		if r.Rejects != "" {
			note = "rejects: " + r.Rejects
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", esc(r.Name), r.State, r.Rows, r.Created, r.Rejected, esc(note))
	}
	tw.Flush()
}

// progressBar draws a bar of bytes read on a terminal's stderr.
func progressBar(w io.Writer) func(name string, size int64, r io.Reader) (io.Reader, func()) {
	return func(name string, size int64, r io.Reader) (io.Reader, func()) {
		bar := progressbar.NewOptions64(size,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(strings.TrimSpace(name)),
			progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		return io.TeeReader(r, bar), func() { bar.Finish() }
	}
}
