package cmdline

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes shared by every command. provisioner adds 3: done, but some input
// was rejected.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

// UsageError is a mistake on the command line or in the configuration: exit 2.
type UsageError struct {
	Msg string
	// Printed: the flag package has told the user already (message and usage).
	Printed bool
}

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a usage error.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// IsUsage reports whether err is a usage error.
func IsUsage(err error) bool {
	var ue *UsageError
	return errors.As(err, &ue)
}

// Parse parses args, flags anywhere among the positional arguments: `import FILE
// --rejects DIR` sets --rejects as `import --rejects DIR FILE` does (the flag
// package alone stops at the first positional argument, and took "--rejects" for a
// file). "--" ends the flags: whatever follows is positional, "-x" included; a lone
// "-" is positional. fs.Args() is the positional arguments, in their order. -h
// (flag.ErrHelp) is returned as it is; any other flag error becomes a usage error
// marked Printed, the flag package having printed it with the usage.
func Parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := parse(fs, args); err != nil {
			return err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" && !takesValue(fs, args, n-1) {
			positional = append(positional, rest...) // stopped at "--"
			break
		}
		i := 0
		for i < len(rest) && !isFlag(rest[i]) {
			i++
		}
		positional = append(positional, rest[:i]...)
		if i == len(rest) {
			break
		}
		args = rest[i:]
	}
	// Leave fs.Args() as the positional arguments alone; the flags are set already.
	return parse(fs, append([]string{"--"}, positional...))
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{Msg: err.Error(), Printed: true}
	}
	return nil
}

// isFlag: what the flag package would read as a flag.
func isFlag(arg string) bool { return len(arg) > 1 && arg[0] == '-' }

// takesValue reports whether args[i] is the value of the flag before it ("--name
// --" sets name to "--"), rather than the end of the flags.
func takesValue(fs *flag.FlagSet, args []string, i int) bool {
	if i == 0 || !isFlag(args[i-1]) || strings.Contains(args[i-1], "=") {
		return false
	}
	f := fs.Lookup(strings.TrimLeft(args[i-1], "-"))
	if f == nil {
		return false
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return false
	}
	return true
}

// Exit returns the exit code of a command's outcome and says on stderr what went
// wrong, prefixed with the command's name: 0 for nil and for -h, 2 for a usage
// error, 1 for any other error.
func Exit(name string, err error, stderr io.Writer) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		if !ue.Printed {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
		}
		return ExitUsage
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return ExitFailed
}

// Main is a tool's whole main (the benches'): run under a context that SIGINT or
// SIGTERM cancels, then exit with Exit's code.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(Exit(name, err, os.Stderr))
}

// ParseNoArgs is Parse for a command that takes flags only: an argument is a usage
// error, after the usage.
func ParseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return Usagef("unexpected arguments %q", fs.Args())
	}
	return nil
}
