package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/dispatcher"
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
	CreatedAt          time.Time      `db:"created_at" json:"created_at"`
	UpdatedAt          time.Time      `db:"updated_at" json:"updated_at"`
}

// CommandID is the command_id the gateway sees (saw) for the request.
func (r *Request) CommandID() string { return dispatcher.CommandID(r.Number, r.CommandGeneration) }

// RejectedByGateway reports whether the request is REJECTED with an answer the
// gateway settled and stores: its response is a REJECTED result. E_MAX_ATTEMPTS
// (the last answer was RETRY, or none), a command refused before sending and a batch
// refused whole (400: nothing stored) are not.
func (r *Request) RejectedByGateway() bool {
	if r.State != "REJECTED" || r.ErrorCode == dispatcher.CodeMaxAttempts || r.Response == "" {
		return false
	}
	var res casapi.Result
	return json.Unmarshal([]byte(r.Response), &res) == nil && res.Status == casapi.StatusRejected
}

// ErrNotFound is Get's error for a number no request has.
var ErrNotFound = errors.New("no such request")

// List returns the requests f selects, in number order, at most f.Limit of them.
func List(ctx context.Context, db *store.DB, f Filter) ([]Request, error) {
	return list(ctx, db, f)
}

func list(ctx context.Context, q sqlx.QueryerContext, f Filter) ([]Request, error) {
	var limit any
	if f.Limit > 0 {
		limit = f.Limit
	}
	var rows []Request
	err := sqlx.SelectContext(ctx, q, &rows, provsql.FilterRequests,
		nullList(f.States), nullList(f.Types), nullList(f.Priorities), nullList(f.ErrorCodes),
		f.Smartcard, f.Subscription, f.File, stampedPattern(f.File),
		nullTime(f.CreatedSince), nullTime(f.CreatedUntil), nullTime(f.ExecutedSince), nullTime(f.ExecutedUntil),
		f.Number, limit)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	for i := range rows {
		rows[i].utc()
	}
	return rows, nil
}

// utc puts every time in UTC: the driver gives them in the session's time zone,
// and the JSON shape promises UTC.
func (r *Request) utc() {
	for _, t := range []*time.Time{&r.ScheduledDate, &r.CreatedAt, &r.UpdatedAt} {
		*t = t.UTC()
	}
	for _, t := range []**time.Time{&r.ExecutedDate, &r.NextAttemptAt, &r.LeaseExpiresAt, &r.RetriedAt} {
		if *t != nil {
			u := (**t).UTC()
			*t = &u
		}
	}
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
