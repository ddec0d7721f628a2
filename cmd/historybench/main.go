// Command historybench measures the same work beside growing histories of settled
// requests (`make bench` runs it through scripts/bench-history.sh): see package
// internal/historybench.
package main

import (
	"context"
	"flag"
	"io"
	"time"

	"github.com/provisioner/provisioner/internal/cmdline"
	"github.com/provisioner/provisioner/internal/historybench"
)

func main() { cmdline.Main("historybench", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("historybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := historybench.Config{Progress: stderr}
	sizes := fs.String("sizes", "0,1M,10M", "settled requests already in the table, one database each; the first is the baseline")
	fs.IntVar(&cfg.Rounds, "rounds", 3, "rounds; every figure is measured once per round on every database")
	fs.IntVar(&cfg.Cards, "cards", 200_000, "the fleet: subscriptions, each with a smartcard and an STB")
	fs.IntVar(&cfg.Days, "days", 90, "days the history is spread over")
	fs.IntVar(&cfg.ImportRows, "import-rows", 50_000, "rows imported, then sent, per round")
	fs.DurationVar(&cfg.CreateTime, "create-time", 20*time.Second, "Web API creates per round: for this long on each database")
	fs.IntVar(&cfg.CreateSlices, "create-slices", 4, "the create time cut into this many slices, alternated between the databases")
	fs.IntVar(&cfg.Concurrency, "concurrency", 8, "Web API creates in flight at once")
	fs.IntVar(&cfg.Shows, "shows", 200, "Web API shows per round")
	fs.IntVar(&cfg.Reads, "reads", 5, "times each operator's read is timed per round")
	fs.BoolVar(&cfg.ReadsOnly, "reads-only", false, "time the operator's reads alone (no import, run, Web API or housekeeping)")
	fs.StringVar(&cfg.Prefix, "database-prefix", "provisioner_bench_history", "the databases are PREFIX_0, PREFIX_1, ...")
	fs.DurationVar(&cfg.HousekeepAge, "housekeep-age", 75*24*time.Hour, "housekeeping deletes requests settled longer ago (0: not measured)")
	fs.StringVar(&cfg.ServerURL, "server", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"URL of any database on the server; the bench's databases are created beside it")
	fs.StringVar(&cfg.Cluster, "cluster", "", "run on a PostgreSQL cluster of the bench's own under this directory, set up as docs/operating.md recommends (-server is then not used); kept, stopped, with -keep, and started again by the next run")
	fs.StringVar(&cfg.TempDir, "tmp", "", "where the generated files go (default: the system's temporary directory)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the databases and the generated files")
	fs.BoolVar(&cfg.Reuse, "reuse", false, "use the databases an earlier -keep run left, migrated, instead of filling them again")
	if err := cmdline.ParseNoArgs(fs, args); err != nil {
		return err
	}
	var err error
	if cfg.Sizes, err = historybench.ParseSizes(*sizes); err != nil {
		return cmdline.Usagef("-sizes: %v", err)
	}
	return historybench.Run(ctx, cfg, stdout)
}
