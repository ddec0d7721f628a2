// Command samplegen writes a synthetic reference-data directory and a large, valid
// instruction file for benchmarks: see package internal/samplegen.
//
//	samplegen -out DIR [-rows 1000000] [-seed 1] [-subscriptions N]
//
// writes DIR/reference/{subscriptions,smartcards,stbs,products}.csv and
// DIR/instructions.csv.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/provisioner/provisioner/internal/cmdline"
	"github.com/provisioner/provisioner/internal/samplegen"
	"github.com/provisioner/provisioner/provisioning"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(cmdline.Exit("samplegen", err, os.Stderr))
}

func run(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("samplegen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory to write into (created if needed)")
	rows := fs.Int("rows", 1_000_000, "instruction rows")
	seed := fs.Uint64("seed", 1, "the same seed gives the same files")
	subs := fs.Int("subscriptions", 0, "subscriptions, each with a smartcard and an STB (default rows/4, at least 100)")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return cmdline.Usagef("give -out DIR and no arguments")
	}
	started := time.Now()
	st, err := samplegen.Generate(*out, samplegen.Config{Rows: *rows, Seed: *seed, Subscriptions: *subs})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d subscriptions, %d smartcards, %d STBs, %d products (%d services)\n",
		filepath.Join(*out, samplegen.ReferenceDir), st.Subscriptions, st.Smartcards, st.STBs, st.Products, st.Services)
	fmt.Fprintf(stdout, "%s: %d rows (%d EXPRESS, %d scheduled, %d with a reference, %d by CA id) in %v\n",
		filepath.Join(*out, samplegen.InstructionsFile), st.Rows, st.Express, st.Scheduled, st.References, st.ByCAID,
		time.Since(started).Round(time.Millisecond))
	for _, t := range provisioning.Types {
		fmt.Fprintf(stdout, "  %-16s %d\n", t, st.Types[t])
	}
	return nil
}
