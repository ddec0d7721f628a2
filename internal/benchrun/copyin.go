package benchrun

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
)

// copyTarget is the table and columns of the importer's COPY, read from the very
// statement it runs, so that the baseline copies what the importer copies.
func copyTarget() (table string, columns []string, err error) {
	m := regexp.MustCompile(`(?is)COPY\s+(\w+)\s*\(([^)]*)\)\s*FROM\s+STDIN`).FindStringSubmatch(provsql.CopyRequests)
	if m == nil {
		return "", nil, errors.New("sql/queries/copy_requests.sql is not COPY table (columns) FROM STDIN")
	}
	for _, c := range strings.Split(m[2], ",") {
		columns = append(columns, strings.TrimSpace(c))
	}
	return m[1], columns, nil
}

// knownColumns are the columns, in order, that resolvedRow holds: those of
// copy_requests.sql when this was written. Should the statement change, the lib/pq
// baseline is skipped (with a note) until resolvedRow follows; psql's needs no change.
var knownColumns = []string{
	"type", "priority", "scheduled_date", "process_immediately", "subscription_id",
	"smartcard_ca_id", "service_ca_ids", "stb_ca_id", "pin", "reference",
	"source_file_id", "source_line", "waits_behind",
}

// resolvedRow is one request's COPY values, typed as the importer's copy stage holds
// them (provisioning.Resolved and the file id and line). Zero values are NULL, as the
// importer never stores an empty string or a zero id.
type resolvedRow struct {
	typ, priority  string
	scheduled      time.Time
	immediate      bool
	subscriptionID int64
	smartcard      string
	services       []string
	stb, pin, ref  string
	fileID, line   int64
	behind         bool
}

// args are the COPY values of r, built by the importer's own CopyValues so that
// lib/pq encodes exactly what the importer sends.
func (r *resolvedRow) args() []any {
	res := provisioning.Resolved{
		Draft: provisioning.Draft{
			Type: provisioning.Type(r.typ), Priority: provisioning.Priority(r.priority),
			ScheduledDate: r.scheduled, ProcessImmediately: r.immediate, Reference: r.ref, PIN: r.pin,
		},
		SubscriptionID: r.subscriptionID, SmartcardCAID: r.smartcard, STBCAID: r.stb, ServiceCAIDs: r.services,
	}
	return importer.CopyValues(&res, r.fileID, int(r.line), r.behind)
}

// readResolved reads a file written by COPY ... TO in text format with knownColumns,
// in UTC (psql runs with PGTZ=UTC).
func readResolved(path string) ([]resolvedRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	intern := map[string]string{} // a handful of distinct types and priorities
	internOf := func(s string) string {
		if v, ok := intern[s]; ok {
			return v
		}
		intern[s] = s
		return s
	}
	var rows []resolvedRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		f := strings.Split(text, "\t")
		if len(f) != len(knownColumns) {
			return nil, fmt.Errorf("line %d: %d fields, want %d", line, len(f), len(knownColumns))
		}
		for i := range f {
			switch {
			case f[i] == `\N`:
				f[i] = ""
			case strings.IndexByte(f[i], '\\') >= 0:
				// The importer's values never need escaping; unescaping is not worth writing.
				return nil, fmt.Errorf("line %d: escaped value %q", line, f[i])
			}
		}
		r := resolvedRow{typ: internOf(f[0]), priority: internOf(f[1]), immediate: f[3] == "t",
			smartcard: f[5], stb: f[7], pin: f[8], ref: f[9], behind: f[12] == "t"}
		var errs []error
		r.scheduled, err = time.Parse("2006-01-02 15:04:05-07", f[2])
		errs = append(errs, err)
		if f[4] != "" {
			r.subscriptionID, err = strconv.ParseInt(f[4], 10, 64)
			errs = append(errs, err)
		}
		if f[6] != "" {
			var a pq.StringArray
			errs = append(errs, a.Scan([]byte(f[6])))
			r.services = a
		}
		r.fileID, err = strconv.ParseInt(f[10], 10, 64)
		errs = append(errs, err)
		r.line, err = strconv.ParseInt(f[11], 10, 64)
		errs = append(errs, err)
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return rows, nil
}

// copyIn writes rows with lib/pq's CopyIn in one transaction, one Exec per row, as the
// importer's copy stage does.
func copyIn(ctx context.Context, db *sql.DB, table string, columns []string, rows []resolvedRow) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn(table, columns...))
	if err != nil {
		return fmt.Errorf("start copy: %w", err)
	}
	for i := range rows {
		if _, err := stmt.ExecContext(ctx, rows[i].args()...); err != nil {
			stmt.Close()
			return fmt.Errorf("copy row %d: %w", i+1, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		stmt.Close()
		return fmt.Errorf("end copy: %w", err)
	}
	if err := stmt.Close(); err != nil {
		return fmt.Errorf("end copy: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// sameColumns reports whether the importer's COPY still has the columns resolvedRow holds.
func sameColumns(columns []string) bool { return slices.Equal(columns, knownColumns) }
