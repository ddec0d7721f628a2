package cli

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/provisioner/provisioner/ops"
)

// filterFlags are the filters of requests list and retry, as given.
type filterFlags struct {
	state, typ, priority, errorCode, smartcard, subscription, file string
	createdSince, createdUntil, executedSince, executedUntil       string
	number                                                         int64
}

func addFilterFlags(fs *flag.FlagSet, withState bool) *filterFlags {
	f := &filterFlags{}
	if withState {
		fs.StringVar(&f.state, "state", "", "life cycle states: PENDING, COMPLETED, REJECTED")
	}
	fs.StringVar(&f.typ, "type", "", "request types: ADD_PRODUCTS, CANCEL_PRODUCTS, PAIR, UNPAIR, RESET_PIN, SET_PIN, RESET_SMARTCARD")
	fs.StringVar(&f.priority, "priority", "", "priorities: REGULAR, EXPRESS")
	fs.StringVar(&f.errorCode, "error-code", "", "error codes, such as E_NOT_PAIRED,E_MAX_ATTEMPTS")
	fs.StringVar(&f.smartcard, "smartcard", "", "smartcard CA id or serial number")
	fs.StringVar(&f.subscription, "subscription", "", "subscription number")
	fs.Int64Var(&f.number, "number", 0, "one request, by its number")
	fs.StringVar(&f.file, "file", "", "import file: its id, or its name as dropped or as recorded")
	fs.StringVar(&f.createdSince, "created-since", "", "created at or after this time")
	fs.StringVar(&f.createdUntil, "created-until", "", "created before this time")
	fs.StringVar(&f.executedSince, "executed-since", "", "settled at or after this time")
	fs.StringVar(&f.executedUntil, "executed-until", "", "settled before this time")
	return f
}

// parseFiltered parses the flags of a command that takes no arguments, and its filters.
func parseFiltered(env Env, fs *flag.FlagSet, ff *filterFlags, args []string) (ops.Filter, error) {
	if err := parseFlags(fs, args); err != nil {
		return ops.Filter{}, err
	}
	if fs.NArg() > 0 {
		return ops.Filter{}, usagef("%s takes no arguments, got %q", fs.Name(), fs.Args())
	}
	return ff.filter(env.now())
}

// filter checks every value and names each bad one with its flag.
func (f *filterFlags) filter(now time.Time) (ops.Filter, error) {
	var out ops.Filter
	var bad []string
	list := func(name, v string, parse func(string) ([]string, error), dst *[]string) {
		if v == "" {
			return
		}
		vals, err := parse(v)
		if err != nil {
			bad = append(bad, fmt.Sprintf("--%s %s", name, err))
			return
		}
		*dst = vals
	}
	list("state", f.state, ops.ParseStates, &out.States)
	list("type", f.typ, ops.ParseTypes, &out.Types)
	list("priority", f.priority, ops.ParsePriorities, &out.Priorities)
	list("error-code", f.errorCode, ops.ParseErrorCodes, &out.ErrorCodes)
	times := []struct {
		name, v string
		dst     *time.Time
	}{
		{"created-since", f.createdSince, &out.CreatedSince}, {"created-until", f.createdUntil, &out.CreatedUntil},
		{"executed-since", f.executedSince, &out.ExecutedSince}, {"executed-until", f.executedUntil, &out.ExecutedUntil},
	}
	for _, t := range times {
		if t.v == "" {
			continue
		}
		v, err := ops.ParseTime(t.v, now)
		if err != nil {
			bad = append(bad, fmt.Sprintf("--%s %s", t.name, err))
			continue
		}
		*t.dst = v
	}
	out.Smartcard, out.Subscription, out.File = strings.TrimSpace(f.smartcard), strings.TrimSpace(f.subscription), strings.TrimSpace(f.file)
	if f.number < 0 {
		bad = append(bad, fmt.Sprintf("--number %d: not a request number", f.number))
	}
	out.Number = f.number
	if len(bad) > 0 {
		return out, usagef("%s", strings.Join(bad, "; "))
	}
	return out, nil
}
