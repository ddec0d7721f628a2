package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/provisioner/provisioner/ops"
)

func runRequestsShow(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "requests show", "requests show [--json] NUMBER")
	dbf := addDBFlags(fs)
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
	env, _, db, err := dbf.setUp(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := ops.Get(ctx, db, number)
	if err != nil {
		return err
	}
	r = r.Masked()
	waits, err := ops.WaitFor(ctx, db, r, env.now())
	if err != nil {
		return err
	}
	attempts, err := ops.Attempts(ctx, db, r.ID)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.Stdout, struct {
			requestJSON
			Sends []ops.Attempt `json:"sends"` // "attempts" is the count of counted sends
		}{requestJSON{r, r.CommandID(), waits}, attempts})
	}
	if err := writeRequest(env.Stdout, r, waits); err != nil {
		return err
	}
	return writeAttempts(env.Stdout, attempts)
}

// writeAttempts lists the request's sends, oldest first: when, in which run and
// batch, with which command_id, and what came of it.
func writeAttempts(w io.Writer, attempts []ops.Attempt) error {
	fmt.Fprintf(w, "\nsends (%d):\n", len(attempts))
	if len(attempts) == 0 {
		fmt.Fprintln(w, "-")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SENT\tANSWERED\tRUN\tBATCH\tCOMMAND ID\tOUTCOME\tHTTP\tERROR")
	for _, a := range attempts {
		status := ""
		if a.HTTPStatus != nil {
			status = strconv.Itoa(*a.HTTPStatus)
		}
		outcome := a.Outcome
		if a.Replayed {
			outcome += " (replayed)"
		}
		errText := a.ErrorCode
		if a.ErrorDescription != "" {
			errText += ": " + a.ErrorDescription
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", rfc3339(a.SentAt), orDash(rfc3339Ptr(a.AnsweredAt)), a.ProcessID,
			a.BatchID, a.CommandID, outcome, orDash(status), orDash(errText))
	}
	return tw.Flush()
}

// writeRequest prints every field of r, then its raw request and response.
func writeRequest(w io.Writer, r ops.Request, waits []ops.Wait) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	field := func(name, value string) { fmt.Fprintf(tw, "%s:\t%s\n", name, orDash(esc(value))) }
	field("number", strconv.FormatInt(r.Number, 10))
	field("state", r.State)
	if waits != nil {
		field("waiting for", ops.DescribeWaits(waits))
	}
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
	if r.CreatedByToken != "" {
		source += "Web API, token " + r.CreatedByToken
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
	held := ""
	if r.HeldAt != nil {
		held = fmt.Sprintf("since %s by %s", rfc3339Ptr(r.HeldAt), r.HeldBy)
		if r.HeldReason != "" {
			held += ": " + r.HeldReason
		}
	}
	field("held", held)
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
	fmt.Fprintf(w, "\nrequest (as sent):\n%s\n\nresponse (as received):\n%s\n", orDash(esc(r.Request)), orDash(esc(r.Response)))
	return nil
}
