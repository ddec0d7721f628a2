package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// The actions of the audit trail (audit_log.action).
const (
	ActionRetry         = "retry"
	ActionHold          = "hold"
	ActionRelease       = "release"
	ActionCancel        = "cancel"
	ActionReschedule    = "reschedule"
	ActionPriority      = "priority"
	ActionPause         = "pause"
	ActionResume        = "resume"
	ActionTokenCreate   = "tokens create"
	ActionTokenRevoke   = "tokens revoke"
	ActionReferenceLoad = "reference load"
	// The console's accounts (`provisioner operators`).
	ActionOperatorCreate   = "operators create"
	ActionOperatorDisable  = "operators disable"
	ActionOperatorPassword = "operators password"
	// A file uploaded into the inbox through the console's Files page.
	ActionUpload = "files upload"
)

// Actions are the audit trail's actions, for `audit list --action`.
var Actions = []string{ActionRetry, ActionHold, ActionRelease, ActionCancel, ActionReschedule, ActionPriority,
	ActionPause, ActionResume, ActionTokenCreate, ActionTokenRevoke, ActionReferenceLoad,
	ActionOperatorCreate, ActionOperatorDisable, ActionOperatorPassword, ActionUpload}

// MaxAuditNumbers caps the request numbers an audit entry stores: the first ones,
// in number order. Touched keeps the full count. A lever over a million requests
// would otherwise store megabytes in one row.
const MaxAuditNumbers = 10000

// Actor is who pulls a lever, and with what command: every lever records it in the
// audit trail (audit_log).
type Actor struct {
	// Operator: `--as NAME`, the console's signed-in operator; "" is the login name
	// of the user running the command (DefaultOperator).
	Operator string
	// Command: the command as given ("requests hold --type PAIR --expect 3").
	Command string
}

// DefaultOperator is the login name of the user running this process: the
// operator of a lever pulled without --as. "uid N" when the system knows no name.
func DefaultOperator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return n
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

func (a Actor) operator() string {
	if a.Operator != "" {
		return a.Operator
	}
	return DefaultOperator()
}

// AuditEntry is one lever pulled, as the audit trail holds it.
type AuditEntry struct {
	ID       int64     `db:"id" json:"id"`
	At       time.Time `db:"at" json:"at"`
	Operator string    `db:"operator" json:"operator"`
	Action   string    `db:"action" json:"action"`
	Command  string    `db:"command" json:"command"`
	// Filters: the filters and parameters as read (JSON object).
	Filters json.RawMessage `db:"filters" json:"filters"`
	// Touched: how many requests it changed; Numbers the first MaxAuditNumbers of
	// them, NumbersTruncated when there were more.
	Touched          int           `db:"touched" json:"touched"`
	Numbers          pq.Int64Array `db:"numbers" json:"numbers"`
	NumbersTruncated bool          `db:"-" json:"numbers_truncated"`
}

// Audit records a lever pulled: action, by a, with filters (any value that marshals
// to a JSON object; nil for none), changing the requests numbers (nil for levers on
// no request). q is the lever's transaction when it has one, so that the entry
// commits with what it records.
func Audit(ctx context.Context, q sqlx.ExtContext, a Actor, action string, filters any, numbers []int64, at time.Time) error {
	f := []byte("{}")
	if filters != nil {
		b, err := json.Marshal(filters)
		if err != nil {
			return fmt.Errorf("audit %s: %w", action, err)
		}
		f = b
	}
	nums := append([]int64{}, numbers...) // never NULL: '{}' for none
	slices.Sort(nums)
	if len(nums) > MaxAuditNumbers {
		nums = nums[:MaxAuditNumbers]
	}
	if at.IsZero() {
		at = time.Now()
	}
	var id int64
	if err := sqlx.GetContext(ctx, q, &id, provsql.InsertAudit, a.operator(), action, a.Command, string(f), len(numbers), pq.Int64Array(nums), at); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// AuditFilter selects audit entries; zero fields select all.
type AuditFilter struct {
	Operator string
	Action   string
	Since    time.Time
	// Limit: the most entries, newest first (0: 1,000).
	Limit int
	// BeforeAt and BeforeID, when BeforeAt is set, keep the entries older than that
	// one (at, then id): keyset paging, the console's Audit page.
	BeforeAt time.Time
	BeforeID int64
}

// ListAudit returns the audit entries f selects, newest first.
func ListAudit(ctx context.Context, db *store.DB, f AuditFilter) ([]AuditEntry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	var rows []struct {
		AuditEntry
		Filters string `db:"filters"`
	}
	if err := db.SelectContext(ctx, &rows, provsql.ListAudit, f.Operator, f.Action, nullTime(f.Since), limit, nullTime(f.BeforeAt), f.BeforeID); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	out := make([]AuditEntry, len(rows))
	for i, r := range rows {
		e := r.AuditEntry
		e.Filters = json.RawMessage(r.Filters)
		e.At = e.At.UTC()
		if e.Numbers == nil {
			e.Numbers = pq.Int64Array{}
		}
		e.NumbersTruncated = e.Touched > len(e.Numbers)
		out[i] = e
	}
	return out, nil
}
