package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
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

// Parse parses args. -h (flag.ErrHelp) is returned as it is; any other flag error
// becomes a usage error marked Printed, the flag package having printed it with the
// usage.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{Msg: err.Error(), Printed: true}
	}
	return nil
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
