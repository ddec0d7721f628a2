package ops

import (
	"context"
	"fmt"
	"time"

	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// Attempt is one send of a request's command to the gateway (request_attempts):
// what `requests show` lists. Its JSON names are part of `requests show --json`.
type Attempt struct {
	ID               int64      `db:"id" json:"id"`
	ProcessID        int64      `db:"process_id" json:"process_id"`
	BatchID          string     `db:"batch_id" json:"batch_id"`
	CommandID        string     `db:"command_id" json:"command_id"`
	SentAt           time.Time  `db:"sent_at" json:"sent_at"`
	AnsweredAt       *time.Time `db:"answered_at" json:"answered_at"`
	Outcome          string     `db:"outcome" json:"outcome"` // completed, rejected, retry, 429, 503, unknown, refused
	HTTPStatus       *int       `db:"http_status" json:"http_status"`
	ErrorCode        string     `db:"error_code" json:"error_code"`
	ErrorDescription string     `db:"error_description" json:"error_description"`
	Replayed         bool       `db:"replayed" json:"replayed"`
}

// Attempts returns the sends of the request with id requestID, oldest first.
func Attempts(ctx context.Context, db *store.DB, requestID int64) ([]Attempt, error) {
	out := []Attempt{}
	if err := db.SelectContext(ctx, &out, provsql.RequestAttempts, requestID); err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	for i := range out {
		a := &out[i]
		a.SentAt = a.SentAt.UTC()
		if a.AnsweredAt != nil {
			t := a.AnsweredAt.UTC()
			a.AnsweredAt = &t
		}
	}
	return out, nil
}
