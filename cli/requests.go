package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/provisioning"
)

const requestsUsage = `requests list [filters] [--limit N] [--format table|csv|json]
       provisioner requests show [--json] NUMBER
       provisioner requests retry [filters | --all] (--dry-run | --yes | --expect N)

Filters (combined with AND; a comma-separated list matches any of its values):
  --state, --type, --priority, --error-code, --smartcard (CA id or serial number),
  --subscription (number), --file (import file id, or its name as dropped or recorded),
  --created-since, --created-until, --executed-since, --executed-until
  (RFC 3339, "2026-11-29 02:15:00" UTC, 2026-11-29, or an age: 90m, 36h, 7d).`

func runRequests(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: provisioner %s", requestsUsage)
	}
	switch args[0] {
	case "list":
		return runRequestsList(ctx, env, args[1:])
	case "show":
		return runRequestsShow(ctx, env, args[1:])
	case "retry":
		return runRequestsRetry(ctx, env, args[1:])
	case "-h", "--help", "help":
		fmt.Fprintf(env.Stderr, "usage: provisioner %s\n", requestsUsage)
		return flag.ErrHelp
	}
	return usagef("unknown subcommand %q: expected list, show or retry", args[0])
}

// filterFlags are the filters of requests list and retry, as given.
type filterFlags struct {
	state, typ, priority, errorCode, smartcard, subscription, file string
	createdSince, createdUntil, executedSince, executedUntil       string
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
	if len(bad) > 0 {
		return out, usagef("%s", strings.Join(bad, "; "))
	}
	return out, nil
}

func runRequestsList(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "requests list", "requests list [filters] [--limit N] [--format table|csv|json]")
	dbURL := dbFlag(fs)
	ff := addFilterFlags(fs, true)
	limit := fs.Int("limit", 100, "at most this many requests, oldest number first (0: all)")
	format := fs.String("format", "table", "table, csv or json")
	f, err := parseFiltered(env, fs, ff, args)
	if err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit %d: must not be negative", *limit)
	}
	if *format != "table" && *format != "csv" && *format != "json" {
		return usagef("--format %q: expected table, csv or json", *format)
	}
	db, err := openDB(ctx, env, *dbURL)
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
	return err
}

// requestJSON is a request as list and show print it in JSON: every stored field,
// and the command_id the gateway sees.
type requestJSON struct {
	ops.Request
	CommandID string `json:"command_id"`
}

func requestsJSON(rows []ops.Request) []requestJSON {
	out := make([]requestJSON, len(rows))
	for i := range rows {
		out[i] = requestJSON{rows[i], rows[i].CommandID()}
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeRequestsTable(w io.Writer, rows []ops.Request) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NUMBER\tSTATE\tTYPE\tPRIORITY\tSMARTCARD\tSUBSCRIPTION\tCREATED\tEXECUTED\tATTEMPTS\tERROR")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Number, r.State, r.Type, r.Priority,
			orDash(smartcardName(r)), orDash(r.Subscription), stamp(r.CreatedAt), stampPtr(r.ExecutedDate), r.Attempts, orDash(r.ErrorCode))
	}
	fmt.Fprintf(tw, "(%d requests)\n", len(rows))
	return tw.Flush()
}

// requestCSVHeader: every field but the PIN (a customer secret has no business in a
// spreadsheet) and the lease (a moment's state).
var requestCSVHeader = []string{"number", "state", "type", "priority", "sequence_number", "scheduled_date", "executed_date",
	"subscription_number", "smartcard_serial_number", "smartcard_ca_id", "service_ca_ids", "stb_serial_number", "stb_ca_id",
	"reference", "source_file", "source_line", "attempts", "next_attempt_at", "command_id", "retries", "retried_at", "retried_error",
	"reference_number", "error_code", "error_description", "process_name", "process_id", "created_at", "updated_at",
	"request", "response"}

func writeRequestsCSV(w io.Writer, rows []ops.Request) error {
	cw := csv.NewWriter(w)
	cw.Write(requestCSVHeader)
	for _, r := range rows {
		cw.Write([]string{strconv.FormatInt(r.Number, 10), r.State, r.Type, r.Priority, strconv.FormatInt(r.SequenceNumber, 10),
			rfc3339(r.ScheduledDate), rfc3339Ptr(r.ExecutedDate), r.Subscription, r.SmartcardSerial, r.Smartcard,
			strings.Join(r.Services, ";"), r.STBSerial, r.STB, r.Reference, r.SourceFile, intPtr(r.SourceLine),
			strconv.Itoa(r.Attempts), rfc3339Ptr(r.NextAttemptAt), r.CommandID(), strconv.Itoa(r.Retries), rfc3339Ptr(r.RetriedAt), r.RetriedError,
			r.ReferenceNumber, r.ErrorCode, r.ErrorDescription, r.ProcessName, intPtr(r.ProcessID),
			rfc3339(r.CreatedAt), rfc3339(r.UpdatedAt), r.Request, r.Response})
	}
	cw.Flush()
	return cw.Error()
}

func runRequestsShow(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "requests show", "requests show [--json] NUMBER")
	dbURL := dbFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("requests show takes one request number, got %q", fs.Args())
	}
	number, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || number <= 0 {
		return usagef("%q is not a request number", fs.Arg(0))
	}
	db, err := openDB(ctx, env, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := ops.Get(ctx, db, number)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.Stdout, requestJSON{r, r.CommandID()})
	}
	return writeRequest(env.Stdout, r)
}

// writeRequest prints every field of r, then its raw request and response.
func writeRequest(w io.Writer, r ops.Request) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	field := func(name, value string) { fmt.Fprintf(tw, "%s:\t%s\n", name, orDash(value)) }
	field("number", strconv.FormatInt(r.Number, 10))
	field("state", r.State)
	field("type", r.Type)
	field("priority", r.Priority)
	field("sequence number", strconv.FormatInt(r.SequenceNumber, 10))
	field("scheduled", rfc3339(r.ScheduledDate))
	field("executed", rfc3339Ptr(r.ExecutedDate))
	field("process immediately", strconv.FormatBool(r.ProcessImmediately))
	field("subscription", r.Subscription)
	field("smartcard", joinName(r.SmartcardSerial, r.Smartcard))
	field("services", strings.Join(r.Services, ", "))
	field("stb", joinName(r.STBSerial, r.STB))
	field("pin", r.PIN)
	field("reference", r.Reference)
	source := r.SourceFile
	if r.SourceLine != nil {
		source += ":" + strconv.FormatInt(*r.SourceLine, 10)
	}
	if r.SourceFileID != nil {
		source += fmt.Sprintf(" (import file %d)", *r.SourceFileID)
	}
	field("source", strings.TrimSpace(source))
	field("command id", r.CommandID())
	field("attempts", strconv.Itoa(r.Attempts))
	field("next attempt", rfc3339Ptr(r.NextAttemptAt))
	claim := ""
	if r.ClaimedBy != nil {
		claim = fmt.Sprintf("run %d until %s", *r.ClaimedBy, rfc3339Ptr(r.LeaseExpiresAt))
	}
	field("claimed by", claim)
	retries := strconv.Itoa(r.Retries)
	if r.RetriedAt != nil {
		retries += ", last " + rfc3339Ptr(r.RetriedAt) + ", which cleared " + r.RetriedError
	}
	field("operator retries", retries)
	field("gateway reference", r.ReferenceNumber)
	field("error code", r.ErrorCode)
	field("error description", r.ErrorDescription)
	process := r.ProcessName
	if r.ProcessID != nil {
		process += fmt.Sprintf(" (run %d)", *r.ProcessID)
	}
	field("process", strings.TrimSpace(process))
	field("created", rfc3339(r.CreatedAt))
	field("updated", rfc3339(r.UpdatedAt))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nrequest (as sent):\n%s\n\nresponse (as received):\n%s\n", orDash(r.Request), orDash(r.Response))
	return nil
}

func runRequestsRetry(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "requests retry", "requests retry [filters | --all] (--dry-run | --yes | --expect N)\n\n"+
		"Puts the REJECTED requests that match back to PENDING, under their own numbers.\n"+
		"Without --dry-run, confirm with --yes, or with --expect N: refused unless exactly N match.")
	dbURL := dbFlag(fs)
	ff := addFilterFlags(fs, false)
	all := fs.Bool("all", false, "every REJECTED request (when no filter is given)")
	dryRun := fs.Bool("dry-run", false, "list what would be retried, change nothing")
	yes := fs.Bool("yes", false, "retry whatever matches")
	expect := fs.Int("expect", -1, "retry only if exactly this many match (the dry run's count)")
	f, err := parseFiltered(env, fs, ff, args)
	if err != nil {
		return err
	}
	expectSet := false
	fs.Visit(func(fl *flag.Flag) { expectSet = expectSet || fl.Name == "expect" })
	switch {
	case f.Empty() && !*all:
		return usagef("give at least one filter, or --all to retry every REJECTED request")
	case !f.Empty() && *all:
		return usagef("--all retries every REJECTED request: give it without filters")
	case expectSet && *expect < 0:
		return usagef("--expect %d: must not be negative", *expect)
	case !*dryRun && !*yes && !expectSet:
		return usagef("retry changes requests: run it with --dry-run first, then confirm with --yes, or with --expect N (the count the dry run gave)")
	case *yes && expectSet:
		return usagef("give --yes or --expect N, not both")
	}
	log, err := newLogger(env)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, env, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	opts := ops.RetryOptions{DryRun: *dryRun, Expect: -1, Now: env.now()}
	if expectSet {
		opts.Expect = *expect
	}
	cands, err := ops.Retry(ctx, db, f, opts)
	var mismatch *ops.CountMismatchError
	if errors.As(err, &mismatch) {
		writeRetryTable(env.Stdout, cands)
		return err
	}
	if err != nil {
		return err
	}
	writeRetryTable(env.Stdout, cands)
	switch {
	case len(cands) == 0:
		fmt.Fprintln(env.Stdout, "no REJECTED request matches: nothing to retry")
	case *dryRun:
		fmt.Fprintf(env.Stdout, "%d requests would be retried (dry run: nothing changed; confirm with --expect %d)\n", len(cands), len(cands))
	default:
		fmt.Fprintf(env.Stdout, "%d requests retried: PENDING again\n", len(cands))
		// For the journal: what was retried (the first 50 numbers).
		nums := make([]int64, 0, min(len(cands), 50))
		for _, c := range cands[:cap(nums)] {
			nums = append(nums, c.Number)
		}
		log.WithFields(map[string]any{"retried": len(cands), "numbers": nums}).Info("requests retried")
	}
	return nil
}

func writeRetryTable(w io.Writer, cands []ops.Candidate) {
	if len(cands) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NUMBER\tTYPE\tSMARTCARD\tERROR\tCOMMAND_ID\tWHY")
	for _, c := range cands {
		why := "kept: the gateway may have applied it"
		if c.NewCommandID {
			why = "new: the gateway stores its rejection"
		} else if c.ErrorCode != provisioning.CodeMaxAttempts {
			why = "kept: the gateway holds no answer for it"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", c.Number, c.Type, orDash(smartcardName(c.Request)), c.ErrorCode, c.NextCommandID, why)
	}
	tw.Flush()
}

func smartcardName(r ops.Request) string {
	if r.SmartcardSerial != "" {
		return r.SmartcardSerial
	}
	return r.Smartcard
}

func joinName(serial, caID string) string {
	switch {
	case serial == "":
		return caID
	case caID == "":
		return serial
	}
	return serial + " (CA id " + caID + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func rfc3339Ptr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return rfc3339(*t)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

func stampPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return stamp(*t)
}

func intPtr(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}
