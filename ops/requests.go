package ops

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// Request is every field of a provisioning request, with the subscription number,
// the serial numbers and the import file's name it refers to. Its JSON names are
// the stable shape of `requests list --json` and `requests show --json`.
type Request struct {
	ID                 int64          `db:"id" json:"id"`
	Number             int64          `db:"number" json:"number"`
	Type               string         `db:"type" json:"type"`
	State              string         `db:"life_cycle_state" json:"state"`
	Priority           string         `db:"priority" json:"priority"`
	SequenceNumber     int64          `db:"sequence_number" json:"sequence_number"`
	ScheduledDate      time.Time      `db:"scheduled_date" json:"scheduled_date"`
	ExecutedDate       *time.Time     `db:"executed_date" json:"executed_date"`
	ProcessImmediately bool           `db:"process_immediately" json:"process_immediately"`
	Request            string         `db:"request" json:"request"`
	Response           string         `db:"response" json:"response"`
	ReferenceNumber    string         `db:"reference_number" json:"reference_number"`
	ErrorCode          string         `db:"error_code" json:"error_code"`
	ErrorDescription   string         `db:"error_description" json:"error_description"`
	ProcessName        string         `db:"process_name" json:"process_name"`
	ProcessID          *int64         `db:"process_id" json:"process_id"`
	Subscription       string         `db:"subscription_number" json:"subscription_number"`
	Smartcard          string         `db:"smartcard_ca_id" json:"smartcard_ca_id"`
	SmartcardSerial    string         `db:"smartcard_serial_number" json:"smartcard_serial_number"`
	Services           pq.StringArray `db:"service_ca_ids" json:"service_ca_ids"`
	STB                string         `db:"stb_ca_id" json:"stb_ca_id"`
	STBSerial          string         `db:"stb_serial_number" json:"stb_serial_number"`
	PIN                string         `db:"pin" json:"pin"`
	Reference          string         `db:"reference" json:"reference"`
	SourceFileID       *int64         `db:"source_file_id" json:"source_file_id"`
	SourceFile         string         `db:"source_file" json:"source_file"`
	SourceLine         *int64         `db:"source_line" json:"source_line"`
	Attempts           int            `db:"attempts" json:"attempts"`
	NextAttemptAt      *time.Time     `db:"next_attempt_at" json:"next_attempt_at"`
	ClaimedBy          *int64         `db:"claimed_by" json:"claimed_by"`
	LeaseExpiresAt     *time.Time     `db:"lease_expires_at" json:"lease_expires_at"`
	CommandGeneration  int            `db:"command_generation" json:"command_generation"`
	Retries            int            `db:"retries" json:"retries"`
	RetriedAt          *time.Time     `db:"retried_at" json:"retried_at"`
	RetriedError       string         `db:"retried_error" json:"retried_error"`
	// HeldAt: held by an operator (`requests hold`) since then, not claimed until
	// released; null when not held. HeldBy and HeldReason: who, and why.
	HeldAt     *time.Time `db:"held_at" json:"held_at"`
	HeldBy     string     `db:"held_by" json:"held_by"`
	HeldReason string     `db:"held_reason" json:"held_reason"`
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt  time.Time  `db:"updated_at" json:"updated_at"`
	// The name of the Web API token that created the request, and of the one that
	// last changed it: "" for a request from a file.
	CreatedByToken string `db:"created_by_token" json:"created_by_token"`
	UpdatedByToken string `db:"updated_by_token" json:"updated_by_token"`

	// Null says which of the fields above are NULL in the database, not '' (both are
	// "" above): the Web API shows the one as null, the other as "".
	Null Nulls `db:"-" json:"-"`
}

// Nulls are the request's text fields that may be NULL.
type Nulls struct {
	Request, Response, ReferenceNumber, ErrorCode, ErrorDescription, ProcessName bool
}

// dbRequest is a Request as filter_requests.sql reads it: its nullable text columns
// go to the fields of depth 0 (sqlx takes the shallowest), then into Request.
type dbRequest struct {
	Request
	Req     sql.NullString `db:"request"`
	Resp    sql.NullString `db:"response"`
	Ref     sql.NullString `db:"reference_number"`
	Code    sql.NullString `db:"error_code"`
	Desc    sql.NullString `db:"error_description"`
	Process sql.NullString `db:"process_name"`
}

func (d *dbRequest) request() Request {
	r := d.Request
	for _, f := range []struct {
		from *sql.NullString
		to   *string
		null *bool
	}{
		{&d.Req, &r.Request, &r.Null.Request}, {&d.Resp, &r.Response, &r.Null.Response},
		{&d.Ref, &r.ReferenceNumber, &r.Null.ReferenceNumber}, {&d.Code, &r.ErrorCode, &r.Null.ErrorCode},
		{&d.Desc, &r.ErrorDescription, &r.Null.ErrorDescription}, {&d.Process, &r.ProcessName, &r.Null.ProcessName},
	} {
		*f.to, *f.null = f.from.String, !f.from.Valid
	}
	r.utc()
	return r
}

// CommandID is the command_id the gateway sees (saw) for the request.
func (r *Request) CommandID() string { return provisioning.CommandID(r.Number, r.CommandGeneration) }

// RejectedByGateway reports whether the request is REJECTED with an answer the
// gateway settled and stores: its response is a REJECTED result. E_MAX_ATTEMPTS
// (the last answer was RETRY, or none), a command refused before sending and a batch
// refused whole (400: nothing stored) are not.
func (r *Request) RejectedByGateway() bool {
	if r.State != "REJECTED" || r.ErrorCode == provisioning.CodeMaxAttempts || r.Response == "" {
		return false
	}
	var res casapi.Result
	return json.Unmarshal([]byte(r.Response), &res) == nil && res.Status == casapi.StatusRejected
}

// MaskedPIN stands in for a PIN in every output for people: the gateway needs the
// PIN, the operator reading a request does not.
const MaskedPIN = "****"

// Masked returns r with its PIN hidden, in its field and in the raw command sent,
// for printing.
func (r Request) Masked() Request {
	if r.PIN != "" {
		r.PIN = MaskedPIN
	}
	r.Request = MaskCommandPIN(r.Request)
	return r
}

// MaskCommandPIN hides the PIN of a raw SET_PIN command as sent to the gateway. A
// command that holds "pin" but cannot be read is hidden whole.
func MaskCommandPIN(s string) string {
	if !strings.Contains(s, `"pin"`) {
		return s
	}
	var cmd casapi.Command
	if err := json.Unmarshal([]byte(s), &cmd); err != nil {
		return "(not shown: holds a PIN)"
	}
	if cmd.PIN == "" || cmd.PIN == MaskedPIN {
		return s
	}
	cmd.PIN = MaskedPIN
	b, err := json.Marshal(cmd)
	if err != nil {
		return "(not shown: holds a PIN)"
	}
	return string(b)
}

// ErrNotFound is Get's error for a number no request has.
var ErrNotFound = errors.New("no such request")

// List returns the requests f selects, in number order (newest first with
// f.Newest; by settlement time with f.BySettlement, the PENDING ones left out): at
// most f.Limit of them, from f.Offset.
func List(ctx context.Context, db *store.DB, f Filter) ([]Request, error) {
	return list(ctx, db, f)
}

// ErrNoPositionTime is List's error for a position by settlement without its time.
var ErrNoPositionTime = errors.New("a position by settlement time needs its executed_date (At) as well as its number")

func list(ctx context.Context, q sqlx.QueryerContext, f Filter) ([]Request, error) {
	if f.BySettlement && f.position() != 0 && f.At.IsZero() {
		return nil, fmt.Errorf("list requests: %w", ErrNoPositionTime)
	}
	args, none, err := f.resolve(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	if none {
		return nil, nil
	}
	var rows []dbRequest
	query, args := f.listQuery(args)
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	out := make([]Request, len(rows))
	for i := range rows {
		out[i] = rows[i].request()
	}
	return out, nil
}

// listQuery is the query of f's order and its parameters: args, resolve's, then
// the limit, the offset, the names and, by settlement, the position's executed_date.
func (f Filter) listQuery(args []any) (string, []any) {
	var limit any
	if f.Limit > 0 {
		limit = f.Limit
	}
	args = append(args, limit, f.Offset, !f.NoNames)
	switch {
	case f.BySettlement && f.Newest:
		return provsql.FilterRequestsExecutedNewest, append(args, nullTime(f.At))
	case f.BySettlement:
		return provsql.FilterRequestsExecuted, append(args, nullTime(f.At))
	case f.Newest:
		return provsql.FilterRequestsNewest, args
	}
	return provsql.FilterRequests, args
}

// ScanKeyed runs query, a statement that returns requests with a first column key
// and then filter_requests.sql's columns (the Web API's insert_requests.sql, which
// returns the requests it creates, each with the key of its call), and reads them
// as List would, by key.
func ScanKeyed(ctx context.Context, q sqlx.QueryerContext, query string, args ...any) (map[int64]Request, error) {
	var rows []struct {
		Key int64 `db:"key"`
		dbRequest
	}
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make(map[int64]Request, len(rows))
	for i := range rows {
		out[rows[i].Key] = rows[i].request()
	}
	return out, nil
}

// Count returns how many requests f selects, f.Limit and f.Offset aside.
func Count(ctx context.Context, db *store.DB, f Filter) (int64, error) {
	args, none, err := f.resolve(ctx, db)
	if err != nil || none {
		return 0, err
	}
	var n int64
	if err := db.GetContext(ctx, &n, provsql.CountRequests, args...); err != nil {
		return 0, fmt.Errorf("count requests: %w", err)
	}
	return n, nil
}

// enumsOnly reports whether f filters by state, type and priority alone (the
// groups of settled_counts), a keyset position aside.
func (f Filter) enumsOnly() bool {
	g := f
	g.States, g.Types, g.Priorities = nil, nil, nil
	return g.Empty()
}

// CreateSkew is the longest a transaction that creates requests is taken to last:
// numbers follow creation time up to it, and a created or executed range is turned
// into number bounds with it (sql/queries/filter_constants.sql). The longest such
// transaction is an import's, whose statements its file timeout bounds (at most
// importer.MaxFileTimeout, an hour, which the configuration and the import command
// enforce): a file imported for longer than this could have requests at the edges of
// a created range that the range does not list.
const CreateSkew = 2 * time.Hour

// constants are what filter_constants.sql resolves a filter's names and ranges to.
type constants struct {
	Smartcards   pq.StringArray `db:"smartcards"`
	Subscription *int64         `db:"subscription"`
	Files        pq.Int64Array  `db:"files"`
	NumberFrom   int64          `db:"number_from"`
	NumberTo     int64          `db:"number_to"`
	NumberSure   int64          `db:"number_sure"`
	SureUntil    int64          `db:"number_sure_until"`
	RefFrom      *int64         `db:"reference_from"`
	RefTo        *int64         `db:"reference_to"`
}

// sureBounds are the numbers between which every request was created in a
// created range (filter_constants.sql's number_sure and number_sure_until): since,
// the lowest at and above which every request was created since CreatedSince;
// until, the highest at and below which every one was created before the earlier
// of CreatedUntil and ExecutedUntil (0: none).
type sureBounds struct{ since, until int64 }

// resolve returns the parameters of filter_requests.sql's WHERE clause ($1 to
// $17) with the filter's names and ranges resolved to constants in one statement
// first; none says that nothing can match (a subscription or a file no row has).
func (f Filter) resolve(ctx context.Context, q sqlx.QueryerContext) (args []any, none bool, err error) {
	args, _, none, err = f.resolveSure(ctx, q)
	return args, none, err
}

// resolveSure is resolve, with the numbers between which every request was created
// in f's created range.
func (f Filter) resolveSure(ctx context.Context, q sqlx.QueryerContext) (args []any, sure sureBounds, none bool, err error) {
	var c constants
	until := f.CreatedUntil
	if !f.ExecutedUntil.IsZero() && (until.IsZero() || f.ExecutedUntil.Before(until)) {
		until = f.ExecutedUntil // settled before it, so created before it too
	}
	needs := f.Smartcard != "" || f.Subscription != "" || f.File != "" || f.ReferenceNumber != "" ||
		!f.CreatedSince.IsZero() || !until.IsZero()
	if needs {
		if err := sqlx.GetContext(ctx, q, &c, provsql.FilterConstants, f.Smartcard, f.Subscription, f.File,
			stampedPattern(f.File), nullTime(f.CreatedSince), nullTime(until), fmt.Sprintf("%d seconds", int64(CreateSkew/time.Second)),
			f.ReferenceNumber); err != nil {
			return nil, sure, false, fmt.Errorf("resolve the filter: %w", err)
		}
		if (f.Subscription != "" && c.Subscription == nil) || (f.File != "" && len(c.Files) == 0) ||
			(f.ReferenceNumber != "" && c.RefFrom == nil) {
			return nil, sure, true, nil
		}
		if c.RefFrom != nil {
			c.NumberFrom, c.NumberTo = tighter(c.NumberFrom, c.NumberTo, *c.RefFrom, *c.RefTo)
		}
	}
	var smartcards, files any
	if f.Smartcard != "" {
		smartcards = c.Smartcards
	}
	if f.File != "" {
		files = c.Files
	}
	// By settlement, only settled requests count, as only they are listed: an
	// executed since of -infinity (no bound otherwise) leaves out the PENDING ones
	// in Count and CountUpTo too.
	var executedSince any = nullTime(f.ExecutedSince)
	if f.BySettlement && executedSince == nil {
		executedSince = "-infinity"
	}
	return []any{
		nullList(f.States), nullList(f.Types), nullList(f.Priorities), nullList(f.ErrorCodes),
		smartcards, c.Subscription, files,
		nullTime(f.CreatedSince), nullTime(f.CreatedUntil), executedSince, nullTime(f.ExecutedUntil),
		f.Number, f.ReferenceNumber, f.ID, f.position(), c.NumberFrom, c.NumberTo,
	}, sureBounds{c.NumberSure, c.SureUntil}, false, nil
}

// tighter narrows the number range from-to to lo-hi on each side where that is
// tighter; 0 is no bound, on either.
func tighter(from, to, lo, hi int64) (int64, int64) {
	if lo != 0 && (from == 0 || lo > from) {
		from = lo
	}
	if hi != 0 && (to == 0 || hi < to) {
		to = hi
	}
	return from, to
}

// position is $15: the keyset position, After in number order, Before newest first.
func (f Filter) position() int64 {
	if f.Newest {
		return f.Before
	}
	return f.After
}

// utc puts every time in UTC: the driver gives them in the session's time zone,
// and the JSON shape promises UTC.
func (r *Request) utc() {
	for _, t := range []*time.Time{&r.ScheduledDate, &r.CreatedAt, &r.UpdatedAt} {
		*t = t.UTC()
	}
	for _, t := range []**time.Time{&r.ExecutedDate, &r.NextAttemptAt, &r.LeaseExpiresAt, &r.RetriedAt, &r.HeldAt} {
		if *t != nil {
			u := (**t).UTC()
			*t = &u
		}
	}
}

// CountUpTo counts the requests f selects (Limit and Offset ignored) up to max: it
// returns max+1 when more match, and reads at most that many rows, so a page can say
// "more than max" at once where an exact count of millions takes seconds.
func CountUpTo(ctx context.Context, db *store.DB, f Filter, max int64) (int64, error) {
	if f.enumsOnly() && !slices.Equal(f.States, []string{string(provisioning.Pending)}) {
		// The settled ones alone may be past the cap: their counts say so at once.
		var settled int64
		if err := db.GetContext(ctx, &settled, provsql.SettledCount,
			nullList(f.States), nullList(f.Types), nullList(f.Priorities)); err != nil {
			return 0, fmt.Errorf("count requests: %w", err)
		}
		if settled > max {
			return max + 1, nil
		}
	}
	parts, err := f.countParts(ctx, db, max)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, args := range parts {
		var n int64
		if err := db.GetContext(ctx, &n, provsql.CountRequestsCapped, append(args, max+1-total)...); err != nil {
			return 0, fmt.Errorf("count requests: %w", err)
		}
		if total += n; total > max {
			break
		}
	}
	return total, nil
}

// countParts are the parameters of CountUpTo's counts (count_requests_capped.sql,
// the cap left to the caller), in the order to take them: none when nothing can
// match. With a created range, the requests numbered between its sure bounds
// (filter_constants.sql) were all created in it: they are counted first with the
// creation time left out ($8, $9 NULL), so that an index without it counts them
// alone (the number index for "created since 36h": 10,001 entries, where the one
// count read 19,000 rows of the table, the 9,000 of the two hours of
// ops.CreateSkew before the range thrown away); those before and after them,
// tested on their creation time, only while the count is under the cap.
// Not for the REJECTED requests alone: their index holds the creation time
// (provisioning_requests_rejected_code_created, migration 000024), and one count
// reads it alone; split, the planner counted REJECTED E_BUSY above number_sure
// through the error code's index and its 83,000 PENDING E_BUSY entries (25 ms
// warm, against 3).
func (f Filter) countParts(ctx context.Context, db *store.DB, max int64) ([][]any, error) {
	args, sure, none, err := f.resolveSure(ctx, db)
	if err != nil || none {
		return nil, err
	}
	if f.CreatedUntil.IsZero() {
		sure.until = 0 // an executed until's bound: no creation time to leave out
	}
	from, to := args[15].(int64), args[16].(int64)
	lo, hi := tighter(from, to, sure.since, sure.until) // the middle part, without the creation time
	if (sure.since == 0 && sure.until == 0) || (hi != 0 && lo > hi) || slices.Equal(f.States, []string{string(provisioning.Rejected)}) {
		return [][]any{args}, nil
	}
	mid := slices.Clone(args)
	mid[15], mid[16] = lo, hi // $16, $17
	if sure.since != 0 {
		mid[7] = nil // $8: created since
	}
	if sure.until != 0 {
		mid[8] = nil // $9: created until
	}
	parts := [][]any{mid}
	if sure.since > from {
		before := slices.Clone(args)
		before[16] = sure.since - 1
		parts = append(parts, before)
	}
	if sure.until != 0 && (to == 0 || sure.until < to) {
		after := slices.Clone(args)
		after[15] = sure.until + 1
		parts = append(parts, after)
	}
	return parts, nil
}

// Get returns the request with that number, or ErrNotFound.
func Get(ctx context.Context, db *store.DB, number int64) (Request, error) {
	rows, err := List(ctx, db, Filter{Number: number})
	if err != nil {
		return Request{}, err
	}
	if len(rows) == 0 {
		return Request{}, fmt.Errorf("request %d: %w", number, ErrNotFound)
	}
	return rows[0], nil
}

func nullList(vs []string) any {
	if len(vs) == 0 {
		return nil
	}
	return pq.StringArray(vs)
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// Plural is "1 request", "2 requests": the count and the word that goes with it,
// for the operator's messages.
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
