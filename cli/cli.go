package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"golang.org/x/term"

	"github.com/provisioner/provisioner/internal/cmdline"
	"github.com/provisioner/provisioner/internal/escape"
)

// Exit codes: those every command of the module shares (package cmdline), and 3.
const (
	ExitOK       = cmdline.ExitOK
	ExitFailed   = cmdline.ExitFailed
	ExitUsage    = cmdline.ExitUsage
	ExitRejected = 3
)

// Env is what a command sees of the world: its streams and environment.
type Env struct {
	Stdout, Stderr io.Writer
	// Stdin: what `operators create|password --password-stdin` read; nil reads nothing.
	Stdin  io.Reader
	Getenv func(string) string
	// StderrIsTerminal decides text or JSON logs and the progress bar.
	StderrIsTerminal bool
	// Now is the clock of the operator's commands (status ages, since/until
	// filters); nil is time.Now. Tests set it to make outputs stable.
	Now func() time.Time
}

func (e Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// OSEnv is the process's own environment.
func OSEnv() Env {
	return Env{
		Stdout:           os.Stdout,
		Stdin:            os.Stdin,
		Stderr:           os.Stderr,
		Getenv:           os.Getenv,
		StderrIsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
	}
}

// usagef is bad usage or configuration (exit 2): the usage error of every command.
func usagef(format string, args ...any) error { return cmdline.Usagef(format, args...) }

// rejectedError means the command did its work but some input was rejected: exit 3.
type rejectedError struct{ msg string }

func (e *rejectedError) Error() string { return e.msg }

type command struct {
	summary string
	run     func(ctx context.Context, env Env, args []string) error
}

var commands = map[string]command{
	"migrate":   {"bring the database schema up to date", runMigrate},
	"reference": {"reference load DIR: upsert subscriptions, smartcards, STBs and products", runReference},
	"import":    {"import instruction files: --inbox DIR, or FILE...", runImport},
	"process":   {"one processing run: send due requests to the CAS gateway", runProcess},
	"serve":     {"serve the CRM's Web API: provisioning requests one at a time", runServe},
	"tokens":    {"tokens create NAME | revoke NAME | list: the Web API's tokens", runTokens},
	"operators": {"operators create NAME --role R | list | disable NAME | password NAME: the console's accounts", runOperators},
	"status":    {"the queue, the inbox, the last job runs and the day's errors", runStatus},
	"requests":  {"requests list|show|retry|hold|release|cancel|reschedule|priority: find, inspect and change requests", runRequests},
	"pause":     {"pause JOB|queue [--reason TEXT]: skip a job's ticks, or stop every run's claims", runPause},
	"resume":    {"resume JOB|queue: end a pause", runResume},
	"audit":     {"audit list [--operator --action --since] [--json]: who pulled which lever", runAudit},
	"version":   {"print the version", runVersion},
	"scheduler": {"run the jobs on their schedules (foreground daemon): --config FILE", runScheduler},
	"run":       {"run JOB: one run of import, process, reconcile or housekeeping, recorded in the ledger", runRun},
	"reconcile": {"compare the CRM's entitlements with the CAS and create the corrections", runReconcile},
	"config":    {"config check [FILE]: name every mistake of a configuration file", runConfig},
}

// Main runs the command line args (without the program name) and returns the exit code.
func Main(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || isHelp(args[0]) {
		printUsage(env.Stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "provisioner: unknown command %q\n\n", args[0])
		printUsage(env.Stderr)
		return ExitUsage
	}
	err := cmd.run(ctx, env, args[1:])
	var re *rejectedError
	var ce *checkExit
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ce):
		return ce.code // status --check: its verdict is printed
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case cmdline.IsUsage(err):
		// Printed or not by the flag package, the command's name and the problem
		// end the output: what scripts and the tests read.
		fmt.Fprintf(env.Stderr, "provisioner %s: %s\n", args[0], escape.Lines(err.Error()))
		return ExitUsage
	case errors.As(err, &re):
		fmt.Fprintf(env.Stderr, "provisioner %s: %s\n", args[0], escape.Lines(err.Error()))
		return ExitRejected
	default:
		fmt.Fprintf(env.Stderr, "provisioner %s: %s\n", args[0], escape.Lines(err.Error()))
		return ExitFailed
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: provisioner COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun `provisioner COMMAND -h` for a command's flags.")
	fmt.Fprintln(w, "Environment: DATABASE_URL (required); DATABASE_STATEMENT_TIMEOUT (30s); CAS_GATEWAY_URL,")
	fmt.Fprintln(w, "CAS_GATEWAY_TOKEN, CAS_DESTINATION_ID (process, reconcile, serve, scheduler, run, and import of process_immediately")
	fmt.Fprintln(w, "rows); LOG_LEVEL (info); LOG_FORMAT (text on a terminal, json otherwise); PROVISIONER_CONFIG or --config")
	fmt.Fprintln(w, "FILE (every command that uses the database; required by scheduler and run): the configuration file, whose")
	fmt.Fprintln(w, "settings stand in for the variables the environment does not set.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 failed, 2 bad usage or configuration, 3 done but something was rejected (rows or")
	fmt.Fprintln(w, "files by import, requests by process, bad rows by reference load, corrections over --max-corrections or")
	fmt.Fprintln(w, "refused by the rules by reconcile; the same through run).")
}

// isHelp reports whether arg asks for the usage, where a command or subcommand is
// expected: exit 0, as -h after it.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(env Env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: provisioner %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning a flag error into a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error { return cmdline.Parse(fs, args) }
