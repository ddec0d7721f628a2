package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/store"
)

// Import is the import job: what waits in the inbox, once, as `provisioner import
// --inbox`, then the process_immediately requests of each imported file.
func Import(ctx context.Context, env Env) (Result, error) {
	c := env.Config.Import
	if c.Inbox == "" {
		return Result{}, configErrorf("jobs.import.inbox is not set")
	}
	im := importer.New(env.DB, env.Log, importer.Options{ChunkSize: c.Chunk, FileTimeout: c.FileTimeout})
	results, err := im.ImportInbox(ctx, c.Inbox, c.Settle)
	if errors.Is(err, importer.ErrInbox) {
		return Result{}, &ConfigError{err}
	}
	if err == nil {
		opts := ProcessOptions(env.Config)
		opts.Observer = env.Gateway
		SendImmediately(ctx, env.DB, env.Log, GatewayConfig(env.Config), opts, results)
	}
	return ImportResult(results), err
}

// ImportResult is what an import did, as a job's result: rejected rows and refused
// files make it REJECTED.
func ImportResult(results []importer.Result) Result {
	var r Result
	counts := map[string]int{"files": len(results)}
	refused := 0
	for _, res := range results {
		counts["rows"] += res.Rows
		counts["created"] += res.Created
		counts["rejected_rows"] += res.Rejected
		switch res.State {
		case importer.Refused:
			refused++
		case importer.Duplicate:
			counts["duplicates"]++
		}
	}
	counts["refused_files"] = refused
	r.Counts = counts
	r.Rejected = counts["rejected_rows"] + refused
	if len(results) == 0 {
		r.Summary, r.Idle = "nothing to import", true
		return r
	}
	r.Summary = fmt.Sprintf("%s: %s, %s created, %s and %s rejected, %s",
		plural(len(results), "file"), plural(counts["rows"], "row"), plural(counts["created"], "request"),
		plural(counts["rejected_rows"], "row"), plural(refused, "file"), plural(counts["duplicates"], "duplicate"))
	return r
}

// plural is "1 file", "2 files".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// SendImmediately sends the process_immediately requests of each imported file
// through the processing run's own code path, right after the file's commit. A
// failure leaves them PENDING for the next run: it is logged, not fatal.
func SendImmediately(ctx context.Context, db *store.DB, log logrus.FieldLogger, gw dispatcher.GatewayConfig, opts dispatcher.Options, results []importer.Result) {
	for _, r := range results {
		if r.State != importer.Imported || r.Immediate == 0 {
			continue
		}
		entry := log.WithFields(logrus.Fields{"file": r.Name, "requests": r.Immediate})
		o := opts
		o.FileID = r.FileID
		d, err := NewDispatcher(db, log, gw, o)
		if err != nil {
			entry.WithError(err).Warn("process_immediately requests left PENDING for the next processing run")
			continue
		}
		sum, err := d.Run(ctx)
		if err != nil {
			entry.WithError(err).Warn("sending process_immediately requests failed; what was not sent stays PENDING for the next processing run")
			continue
		}
		entry.WithFields(logrus.Fields{"completed": sum.Completed, "rejected": sum.Rejected, "retry_later": sum.Retried}).Info("process_immediately requests sent")
	}
}
