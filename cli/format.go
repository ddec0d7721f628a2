package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provisioner/provisioner/internal/escape"
	"github.com/provisioner/provisioner/ops"
)

// The formatters of the operator's commands: the requests as a table, CSV or JSON,
// and the small helpers that status shares.

// requestJSON is a request as list and show print it in JSON: every stored field,
// and the command_id the gateway sees.
type requestJSON struct {
	ops.Request
	CommandID string `json:"command_id"`
	// WaitingFor: what a PENDING request waits for (ops.WaitFor); `requests show`
	// only, left out of list and for a settled request.
	WaitingFor []ops.Wait `json:"waiting_for,omitempty"`
}

func requestsJSON(rows []ops.Request) []requestJSON {
	out := make([]requestJSON, len(rows))
	for i := range rows {
		out[i] = requestJSON{Request: rows[i], CommandID: rows[i].CommandID()}
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
			orDash(esc(smartcardName(r))), orDash(esc(r.Subscription)), stamp(r.CreatedAt), stampPtr(r.ExecutedDate), r.Attempts, orDash(esc(r.ErrorCode)))
	}
	fmt.Fprintf(tw, "(%s)\n", ops.Plural(len(rows), "request", "requests"))
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
		writeEscaped(cw, []string{strconv.FormatInt(r.Number, 10), r.State, r.Type, r.Priority, strconv.FormatInt(r.SequenceNumber, 10),
			rfc3339(r.ScheduledDate), rfc3339Ptr(r.ExecutedDate), r.Subscription, r.SmartcardSerial, r.Smartcard,
			strings.Join(r.Services, ";"), r.STBSerial, r.STB, r.Reference, r.SourceFile, intPtr(r.SourceLine),
			strconv.Itoa(r.Attempts), rfc3339Ptr(r.NextAttemptAt), r.CommandID(), strconv.Itoa(r.Retries), rfc3339Ptr(r.RetriedAt), r.RetriedError,
			r.ReferenceNumber, r.ErrorCode, r.ErrorDescription, r.ProcessName, intPtr(r.ProcessID),
			rfc3339(r.CreatedAt), rfc3339(r.UpdatedAt), r.Request, r.Response})
	}
	cw.Flush()
	return cw.Error()
}

// writeEscaped writes a CSV record with every field's control characters escaped:
// CSV quoting keeps a CR or LF inside its field, but a terminal or a spreadsheet
// shown on one still obeys an ESC.
func writeEscaped(cw *csv.Writer, rec []string) error {
	for i := range rec {
		rec[i] = esc(rec[i])
	}
	return cw.Write(rec)
}

// esc escapes the control characters of a string from a file, a call or the
// gateway, for an operator's screen.
func esc(s string) string { return escape.Control(s) }

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
