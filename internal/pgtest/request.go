package pgtest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/store"
)

// DefaultSmartcard is the smartcard CA id of a request that names none: the first
// smartcard of samples/reference.
const DefaultSmartcard = "1000000001"

// RequestOpts are the columns of one provisioning request to insert. The factory
// writes SQL against the schema alone (no Go type of the engine), so a test states
// only what it is about and every other column takes its default. A zero value takes
// the factory's default where one is named, else the column's default (PENDING,
// REGULAR, the sequences, now(), 0); a nil pointer, nil slice or zero id is NULL.
type RequestOpts struct {
	Type      string   // RESET_PIN when empty
	Priority  string   // REGULAR (the column's default) when empty
	State     string   // life_cycle_state; PENDING (the column's default) when empty
	Smartcard string   // smartcard_ca_id; DefaultSmartcard when empty
	Services  []string // service_ca_ids
	STB       *string  // stb_ca_id
	PIN       *string

	Number         int64 // from its sequence when 0
	SequenceNumber int64 // from its sequence when 0
	// ScheduledDate is when the request is due; nil: a second ago on the database's
	// clock, so that a processing run claims it at once.
	ScheduledDate      *time.Time
	ProcessImmediately bool

	ExecutedDate     *time.Time
	Attempts         int
	NextAttemptAt    *time.Time
	Request          *string
	Response         *string
	ReferenceNumber  *string // the gateway's reference
	ErrorCode        *string
	ErrorDescription *string
	ProcessName      *string
	ProcessID        int64
	ClaimedBy        int64 // a process id: the lease's holder
	LeaseExpiresAt   *time.Time

	Reference      *string // the caller's key (unique)
	SubscriptionID int64
	SourceFileID   int64
	SourceLine     int

	CreatedAt *time.Time // now() when nil
	UpdatedAt *time.Time // now() when nil
}

// Ptr returns a pointer to v, for the optional fields of RequestOpts.
func Ptr[T any](v T) *T { return &v }

// Request inserts one provisioning request and returns its id.
func Request(t testing.TB, db *store.DB, o RequestOpts) int64 {
	t.Helper()
	return Requests(t, db, o)[0]
}

// Requests inserts the requests in the order given, in one transaction of a
// statement per thousand requests, and returns their ids in the same order. The
// ids, and the numbers and sequence numbers taken from their sequences, rise in
// that order. A PENDING request behind another of its card among them is marked as
// waiting behind it (waits_behind), as the importer marks a file's rows.
func Requests(t testing.TB, db *store.DB, reqs ...RequestOpts) []int64 {
	t.Helper()
	if len(reqs) == 0 {
		return nil
	}
	rows := make([][]value, len(reqs))
	used := map[string]bool{}
	for i, o := range reqs {
		rows[i] = o.values()
		for _, v := range rows[i] {
			if v.set() {
				used[v.col] = true
			}
		}
	}
	var cols []string
	for _, v := range rows[0] { // every row has every column, in the same order
		if used[v.col] {
			cols = append(cols, v.col)
		}
	}

	ctx := context.Background()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatalf("pgtest: insert requests: %v", err)
	}
	defer tx.Rollback()
	// A thousand rows a statement: at most 29,000 parameters (PostgreSQL allows
	// 65,535), and a VALUES list that short plans in no time.
	const per = 1000
	ids := make([]int64, 0, len(reqs))
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		var q strings.Builder
		var args []any
		fmt.Fprintf(&q, "INSERT INTO provisioning_requests (%s) VALUES ", strings.Join(cols, ", "))
		for i, row := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('(')
			n := 0
			for _, v := range row {
				if !used[v.col] {
					continue
				}
				if n > 0 {
					q.WriteString(", ")
				}
				n++
				switch {
				case v.arg != nil:
					args = append(args, v.arg)
					fmt.Fprintf(&q, "$%d", len(args))
				case v.expr != "":
					q.WriteString(v.expr)
				default:
					q.WriteString("DEFAULT")
				}
			}
			q.WriteByte(')')
		}
		q.WriteString(" RETURNING id")
		var got []int64
		if err := tx.SelectContext(ctx, &got, q.String(), args...); err != nil {
			t.Fatalf("pgtest: insert requests: %v", err)
		}
		// The identity is drawn row by row in VALUES order, while RETURNING's order is
		// not promised: sorted, the ids are the rows' in order.
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		ids = append(ids, got...)
	}
	// Marked as the importer marks a file's rows (migration 000031): a PENDING
	// request behind an earlier PENDING one of its card among these waits behind it.
	// In the same transaction, so that the mark is true when anyone sees it.
	var queued []struct {
		ID   int64  `db:"id"`
		Card string `db:"smartcard_ca_id"`
		Seq  int64  `db:"sequence_number"`
	}
	if err := tx.SelectContext(ctx, &queued, `SELECT id, smartcard_ca_id, sequence_number FROM provisioning_requests
	    WHERE id = ANY ($1) AND life_cycle_state = 'PENDING' AND smartcard_ca_id IS NOT NULL ORDER BY sequence_number`,
		pq.Int64Array(ids)); err != nil {
		t.Fatalf("pgtest: read requests back: %v", err)
	}
	var behind pq.Int64Array
	seen := map[string]bool{}
	for _, q := range queued {
		if seen[q.Card] {
			behind = append(behind, q.ID)
		}
		seen[q.Card] = true
	}
	if len(behind) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE provisioning_requests SET waits_behind = true WHERE id = ANY ($1)`, behind); err != nil {
			t.Fatalf("pgtest: mark requests waiting behind others: %v", err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("pgtest: insert requests: %v", err)
	}
	return ids
}

// value is one column of a row to insert: a parameter, an SQL expression, or
// neither (the column's DEFAULT).
type value struct {
	col  string
	arg  any
	expr string
}

func (v value) set() bool { return v.arg != nil || v.expr != "" }

// values lists every column RequestOpts sets, in one fixed order.
func (o RequestOpts) values() []value {
	str := func(col, s string) value {
		if s == "" {
			return value{col: col}
		}
		return value{col: col, arg: s}
	}
	ptr := func(col string, s *string) value {
		if s == nil {
			return value{col: col}
		}
		return value{col: col, arg: *s}
	}
	at := func(col string, tm *time.Time) value {
		if tm == nil {
			return value{col: col}
		}
		return value{col: col, arg: *tm}
	}
	num := func(col string, n int64) value {
		if n == 0 {
			return value{col: col}
		}
		return value{col: col, arg: n}
	}
	typ, card := o.Type, o.Smartcard
	if typ == "" {
		typ = "RESET_PIN"
	}
	if card == "" {
		card = DefaultSmartcard
	}
	services := value{col: "service_ca_ids"}
	if o.Services != nil {
		services.arg = pq.StringArray(o.Services)
	}
	scheduled := at("scheduled_date", o.ScheduledDate)
	if o.ScheduledDate == nil {
		scheduled.expr = "now() - interval '1 second'"
	}
	immediately := value{col: "process_immediately"}
	if o.ProcessImmediately {
		immediately.arg = true
	}
	return []value{
		num("number", o.Number),
		num("sequence_number", o.SequenceNumber),
		str("type", typ),
		str("priority", o.Priority),
		str("life_cycle_state", o.State),
		str("smartcard_ca_id", card),
		services,
		ptr("stb_ca_id", o.STB),
		ptr("pin", o.PIN),
		scheduled,
		immediately,
		at("executed_date", o.ExecutedDate),
		num("attempts", int64(o.Attempts)),
		at("next_attempt_at", o.NextAttemptAt),
		ptr("request", o.Request),
		ptr("response", o.Response),
		ptr("reference_number", o.ReferenceNumber),
		ptr("error_code", o.ErrorCode),
		ptr("error_description", o.ErrorDescription),
		ptr("process_name", o.ProcessName),
		num("process_id", o.ProcessID),
		num("claimed_by", o.ClaimedBy),
		at("lease_expires_at", o.LeaseExpiresAt),
		ptr("reference", o.Reference),
		num("subscription_id", o.SubscriptionID),
		num("source_file_id", o.SourceFileID),
		num("source_line", int64(o.SourceLine)),
		at("created_at", o.CreatedAt),
		at("updated_at", o.UpdatedAt),
	}
}
